"""The API's response envelope, error handling, authentication and pagination.

Every API response is ``{"success": true, "message": ..., "data": ...}`` or
``{"success": false, "message": ..., "errors": {field: [messages]}}``, including
the errors that DRF and Django raise themselves.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.core.paginator import Page
from django.http import Http404
from django.urls import reverse
from rest_framework import exceptions, pagination, status
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from upscaler_site.health import unavailable_services
from upscaler_site.serializers import one_of

log = logging.getLogger(__name__)

# DRF's default messages are terse; these are what a client sees in "message".
STATUS_MESSAGES = {
    400: "The request is malformed.",
    401: "Authentication credentials were not provided or are invalid.",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
    405: "Method not allowed.",
    406: "Not acceptable.",
    413: "The request body is too large.",
    415: "Unsupported media type.",
    422: "Validation failed",
    410: "This is no longer available.",
    429: "Too many requests.",
    500: "Internal server error.",
    503: "A service this request needs is unavailable for a moment; nothing was stored. Retry later.",
}


def ok(data: Any = None, message: str = "OK", status_code: int = status.HTTP_200_OK, **extra: Any) -> Response:
    """A success envelope: ``{"success": true, "message": message, "data": data, **extra}``."""
    return Response({"success": True, "message": message, "data": data, **extra}, status=status_code)


def error_body(message: str, errors: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """An error envelope body: ``{"success": false, "message": message, "errors": errors}``."""
    return {"success": False, "message": message, "errors": errors or {}}


class ValidationFailed(exceptions.ValidationError):
    """A validation error answered with 422 Unprocessable Content, as upscaling APIs do."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY


class TooManyRequests(exceptions.Throttled):
    """429 with our message and ``Retry-After: retry_after`` (DRF's own message would repeat the wait)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(detail=message)
        self.wait = retry_after


class Gone(exceptions.APIException):
    """410: the object is still known, but what was asked of it no longer exists (an expired image's files)."""

    status_code = status.HTTP_410_GONE
    default_detail = "This is no longer available."
    default_code = "gone"


class ServiceUnavailable(exceptions.APIException):
    """503 with ``Retry-After``: a service a request needs (database, broker, cache, file storage) did not answer."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = STATUS_MESSAGES[503]
    default_code = "service_unavailable"
    #: Seconds a client should wait before trying again.
    retry_after = 30


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = STATUS_MESSAGES[413]
    default_code = "payload_too_large"


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's error detail (dicts and lists, nested) as ``{"field.sub": [messages]}``."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(detail, list):
        if all(not isinstance(v, (dict, list)) for v in detail):
            return {prefix or "non_field_errors": [str(v) for v in detail]}
        out = {}
        for index, value in enumerate(detail):
            out.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
        return out
    return {prefix or "non_field_errors": [str(detail)]}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler that answers every error in the envelope.

    Validation errors become 422 with field errors; Django's own exceptions are
    mapped (``RequestDataTooBig`` to 413, ``SuspiciousOperation`` to 400,
    ``PermissionDenied`` to 403 with its message); a service that did not answer
    (:func:`unavailable_services`) is 503 with ``Retry-After``; anything
    unexpected is logged and answered 500 without internal details.
    """
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, PermissionDenied):
        # Domain refusals (billing.quota.PlanLimit) are Django's; their message is for the client.
        # One that says so is "try again later" (429) rather than "not allowed".
        if getattr(exc, "status_code", 403) == status.HTTP_429_TOO_MANY_REQUESTS:
            exc = exceptions.Throttled(detail=str(exc))
        else:
            exc = exceptions.PermissionDenied(*exc.args)
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError()
    elif isinstance(exc, exceptions.ValidationError) and not isinstance(exc, ValidationFailed):
        exc = ValidationFailed(exc.detail)
    elif isinstance(exc, unavailable_services()):
        log.warning("A service did not answer: %s: %s", type(exc).__name__, exc)
        exc = ServiceUnavailable()

    # Imported here: rest_framework.views reads DEFAULT_THROTTLE_CLASSES while it is imported, and
    # the throttle's module (billing.ratelimit) imports this one.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is None:
        log.exception("Unhandled error in API view", exc_info=exc)
        return Response(error_body(STATUS_MESSAGES[500]), status=500)

    code = response.status_code
    if isinstance(exc, exceptions.ValidationError):
        message = STATUS_MESSAGES[422]
        errors = _flatten(exc.detail)
    else:
        detail = getattr(exc, "detail", None)
        message = str(detail) if isinstance(detail, str) and detail else STATUS_MESSAGES.get(code, "Error.")
        errors = _flatten(detail) if isinstance(detail, (dict, list)) else {}
        if isinstance(exc, (Http404, exceptions.NotFound)):
            # get_object_or_404's "No Image matches the given query." names the model.
            message = STATUS_MESSAGES[404]
    response.data = error_body(message, errors)
    if isinstance(exc, ServiceUnavailable):
        response["Retry-After"] = str(exc.retry_after)
    return response


class PageNumberPagination(pagination.PageNumberPagination):
    """``?page=N&per_page=M`` pagination answering ``data``, ``meta`` and ``links``.

    As documented, ``per_page`` above 100 is read as 100, and a page past the last one is
    an empty page (200), so that clients may loop until ``data`` is empty. Only a
    ``page`` or ``per_page`` that is not a positive integer is a 422.
    """

    page_size = 15
    page_size_query_param = "per_page"
    max_page_size = 100

    def get_paginated_response(self, data: list[Any], message: str = "OK") -> Response:
        page, request = self.page, self.request
        assert page is not None and request is not None, "paginate_queryset() first"
        paginator = page.paginator
        url = request.build_absolute_uri()
        last = paginator.num_pages  # at least 1: the first page exists even when empty

        def link(number: int) -> str:
            return replace_query_param(url, self.page_query_param, number)

        return ok(
            data,
            message=message,
            meta={
                "current_page": page.number,
                "last_page": last,
                "per_page": paginator.per_page,
                "total": paginator.count,
            },
            links={
                "first": link(1),
                "last": link(last),
                "prev": link(page.number - 1) if page.number > 1 else None,
                "next": link(page.number + 1) if page.number < last else None,
            },
        )

    def get_page_size(self, request: Any) -> int:
        return min(self._positive_integer(request, self.page_size_query_param, self.page_size), self.max_page_size)

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> list[Any]:
        self.request = request
        number = self._positive_integer(request, self.page_query_param, 1)
        paginator = self.django_paginator_class(queryset, self.get_page_size(request))
        # Past the end, no query runs: a huge page number cannot overflow the database's OFFSET.
        self.page = paginator.page(number) if number <= paginator.num_pages else Page([], number, paginator)
        return list(self.page)

    @staticmethod
    def _positive_integer(request: Any, name: str, default: int) -> int:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
            raise ValidationFailed({name: [f"The {name.replace('_', ' ')} must be a positive integer."]})
        return int(raw)


def paginated_by_status(
    request, view, queryset, serializer_class, statuses: list[str], message: str = "OK"
) -> Response:
    """One page of ``queryset``, narrowed to ``?status=`` when given, serialized with ``serializer_class``.

    Raises:
        ValidationFailed: (422) ``status`` is not one of ``statuses``.
    """
    wanted = request.query_params.get("status")
    if wanted is not None:
        if wanted not in statuses:
            raise ValidationFailed({"status": [f"The status must be {one_of(statuses)}."]})
        queryset = queryset.filter(status=wanted)
    paginator = PageNumberPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(
        serializer_class(page, many=True, context={"request": request}).data, message
    )


@functools.cache
def docs_paths() -> frozenset[str]:
    """The paths of the API's documentation (:mod:`upscaler_site.apidocs`): reading it is not an API
    call, so no hourly limit counts it."""
    return frozenset(reverse(name) for name in ("api-schema", "api-docs", "api-redoc"))
