"""How the OpenAPI schema describes :mod:`accounts.authentication`'s classes.

drf-spectacular finds these extensions by class once they are imported: :mod:`accounts.api`
imports this module, and the URLconf imports that before any schema is generated.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension

from accounts.authentication import ApiTokenAuthentication, SessionWorkspaceAuthentication


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes :class:`ApiTokenAuthentication`: Bearer, or the Token scheme."""

    target_class = ApiTokenAuthentication
    name = ["bearerAuth", "tokenAuth"]

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[Any]]]:
        return [{"bearerAuth": []}, {"tokenAuth": []}]  # either one, not both

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        return [
            {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <token>`."},
            {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "`Authorization: Token <token>`, for clients written for that style.",
            },
        ]


class SessionScheme(OpenApiAuthenticationExtension):
    """The dashboard's session cookie (with ``X-CSRFToken`` on writes), for the browser's own calls."""

    target_class = SessionWorkspaceAuthentication
    name = "sessionAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME}
