"""The OpenAPI 3.1 contract: drf-spectacular's generator taught our envelope, errors and limits.

Views declare what they accept and answer with :func:`envelope` and
:func:`paginated`; :class:`AutoSchema` adds what every operation shares: the error
answers it can give (each the ``Error`` envelope), ``Retry-After`` on 429, and the
response headers a view names in ``openapi_response_headers``. :mod:`upscaler_site.apidocs`
serves the result.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_field, inline_serializer
from rest_framework import permissions, serializers


@extend_schema_field({"type": "boolean", "const": True})
class _TrueField(serializers.BooleanField):
    pass


@extend_schema_field({"type": "boolean", "const": False})
class _FalseField(serializers.BooleanField):
    pass


@extend_schema_field({"type": "null"})
class _NullField(serializers.Field):
    """``data: null``: the answer carries only its message."""

    def to_representation(self, value: Any) -> None:
        return None


class ErrorSerializer(serializers.Serializer[Any]):
    """Every error: ``{"success": false, "message": ..., "errors": {field: [messages]}}``."""

    success = _FalseField()
    message = serializers.CharField(help_text="What went wrong, for a person to read.")
    errors = serializers.DictField(  # type: ignore[assignment]  # a field, popped from the class by DRF
        child=serializers.ListField(child=serializers.CharField()),
        help_text="For 422: each invalid field's messages (``images.3`` is the fourth file of a batch). "
        "Otherwise empty.",
    )


class PageMetaSerializer(serializers.Serializer[Any]):
    current_page = serializers.IntegerField(min_value=1)
    last_page = serializers.IntegerField(min_value=1)
    per_page = serializers.IntegerField(min_value=1, max_value=100)
    total = serializers.IntegerField(min_value=0)


class PageLinksSerializer(serializers.Serializer[Any]):
    first = serializers.URLField()
    last = serializers.URLField()
    prev = serializers.URLField(allow_null=True)
    next = serializers.URLField(allow_null=True)


def error(description: str) -> OpenApiResponse:
    """An error answer of an operation: the ``Error`` envelope, with what it means there."""
    return OpenApiResponse(ErrorSerializer, description=description)


def envelope(name: str, data: Any = None) -> Any:
    """The success envelope ``{"success": true, "message": ..., "data": data}`` as component ``name``.

    ``data``: a serializer (instance, ``many=True`` for lists) or field; None for ``data: null``.
    """
    return inline_serializer(
        name=name,
        fields={
            "success": _TrueField(),
            "message": serializers.CharField(),
            "data": _NullField() if data is None else data,
        },
    )


#: ``{"success": true, "message": ..., "data": null}``: answers that carry only their message.
MESSAGE = envelope("MessageResponse")


def paginated(name: str, item: type[serializers.Serializer[Any]]) -> Any:
    """A page of ``item``s: the success envelope with ``meta`` and ``links`` beside ``data``."""
    return inline_serializer(
        name=name,
        fields={
            "success": _TrueField(),
            "message": serializers.CharField(),
            "data": item(many=True),
            "meta": PageMetaSerializer(),
            "links": PageLinksSerializer(),
        },
    )


def list_parameters(statuses: list[str]) -> list[OpenApiParameter]:
    """``page``, ``per_page`` and ``status``, as every list reads them
    (:func:`upscaler_site.api.paginated_by_status`)."""
    return [
        OpenApiParameter(
            "page",
            {"type": "integer", "minimum": 1},
            default=1,
            description="Page number. A page past the last one is empty.",
        ),
        OpenApiParameter(
            "per_page",
            {"type": "integer", "minimum": 1},
            default=15,
            description="Items per page: at most 100 (more reads as 100).",
        ),
        OpenApiParameter("status", str, enum=statuses, description="Only items with this status."),
    ]


#: What each error status means, for every operation that can answer it.
ERROR_DESCRIPTIONS = {
    400: "The request is malformed (e.g. invalid JSON), or the action is not possible in the object's state.",
    401: "No credentials, or an invalid, revoked or expired token. The response carries `WWW-Authenticate: Bearer`.",
    403: "The token lacks the ability, the email address is not verified, or the plan does not allow this "
    "(API access, scale factor, batches, monthly quota, lapsed subscription).",
    404: "No such object in the token's workspace.",
    413: "The request body is larger than this endpoint accepts.",
    415: "The Content-Type is not one the endpoint reads.",
    422: "Validation failed: `errors` has each invalid field's messages.",
    409: "A request with the same `Idempotency-Key` is still being processed: retry after `Retry-After` seconds.",
    503: "A service the request needs (database, broker, file storage) did not answer; nothing was stored. "
    "Retry after `Retry-After` seconds.",
    429: "Too many requests: the plan's hourly limit (or, without credentials, the client IP's), or too many "
    "images of the workspace still processing. Retry after `Retry-After` seconds.",
}

#: The documentation's sections (``SPECTACULAR_SETTINGS["TAGS"]``), by the first segment of the path.
TAGS = {
    "auth": "Authentication",
    "images": "Images",
    "batches": "Batches",
    "user": "Account",
    "usage": "Account",
    "subscription": "Account",
    "billing": "Billing",
    "webhooks": "Webhooks",
}

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="Your unique key for this request (1-255 characters, e.g. a UUID). Sent again within 24 hours with "
    "the same request, it answers the first answer again (with `Idempotent-Replayed: true`) and creates nothing; "
    "with another request, 422; while the first is still running, 409. Ignored without credentials.",
)
RETRY_AFTER = OpenApiParameter(
    "Retry-After", int, OpenApiParameter.HEADER, response=[409, 429, 503], description="Seconds until you may retry."
)


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's schema of a view, plus the errors and headers every operation shares (see the module)."""

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        # Not get_response_serializers(): @extend_schema(responses=...) replaces that one.
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        for code in self._error_codes():
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(error(ERROR_DESCRIPTIONS[code]), str(code))
        return dict(sorted(responses.items()))

    def get_tags(self) -> list[str]:
        segment = self.path.removeprefix("/api/").split("/")[0]
        return [TAGS.get(segment, segment.title())]

    def _error_codes(self) -> list[int]:
        public = permissions.AllowAny in [type(p) for p in self.view.get_permissions()]
        has_body = self.method in ("POST", "PUT", "PATCH")
        codes = [429, 503]
        if not public:
            codes += [401, 403]
        if "{" in self.path:
            codes.append(404)
        if has_body:
            codes += [400, 413, 415]
        if has_body or self._has_query_parameters():
            codes.append(422)
        if self.method == "POST" and not public:
            codes.append(409)
        return codes

    def _has_query_parameters(self) -> bool:
        return any(
            isinstance(p, OpenApiParameter) and p.location == OpenApiParameter.QUERY
            for p in self.get_override_parameters()
        )

    def get_override_parameters(self) -> list[Any]:
        idempotency = [IDEMPOTENCY_KEY] if self.method == "POST" else []
        return [*super().get_override_parameters(), *getattr(self.view, "openapi_response_headers", []), RETRY_AFTER,
                *idempotency]  # fmt: skip


def drop_docstrings(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Postprocessing hook: components lose the descriptions drf-spectacular takes from serializer
    docstrings, which are written for this code's readers; fields keep their ``help_text``, which is
    written for clients."""
    for component in result.get("components", {}).get("schemas", {}).values():
        component.pop("description", None)
    return result
