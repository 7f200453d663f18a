"""The request types views are written against, once the caller is known (for the type checker only).

``login_required`` pages get an :class:`AuthenticatedHttpRequest`; API views get a
:class:`ApiRequest` (a token or the dashboard's session, the default permissions
allow nothing else) or, where only a token may call, a :class:`TokenRequest`.
"""

from __future__ import annotations

from django.http import HttpRequest
from rest_framework.request import Request

from accounts.models import ApiToken, SessionAccess, User


class AuthenticatedHttpRequest(HttpRequest):
    user: User


class ApiRequest(Request):
    user: User
    auth: ApiToken | SessionAccess


class TokenRequest(Request):
    user: User
    auth: ApiToken
