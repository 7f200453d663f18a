"""Who is calling the API: a workspace token, or the dashboard's session; resolved once per request.

Kept apart from views: DRF imports it while building APIView (so it must not import
drf-spectacular, which imports APIView: the schemes are in :mod:`accounts.openapi`).
"""

from __future__ import annotations

from django.http import HttpRequest
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from accounts.models import TOKEN_SCHEME, ApiToken, InvalidToken, Membership, SessionAccess, User

# Where request_token() keeps its answer (a token, None, or the InvalidToken) for the rest of the request.
_REQUEST_TOKEN = "_api_token"


def request_token(request: HttpRequest) -> ApiToken | None:
    """The usable API token of ``request``'s ``Authorization`` header, or None when it sends none.

    Looked up once per request (:meth:`ApiToken.objects.authenticate
    <accounts.models.ApiTokenQuerySet.authenticate>`) and remembered on it: the rate
    limiter's middleware asks first, API authentication asks again for free.

    Raises:
        InvalidToken: the header names a token that cannot be used (every time it is asked).
    """
    if not hasattr(request, _REQUEST_TOKEN):
        try:
            found: ApiToken | InvalidToken | None = ApiToken.objects.authenticate(
                request.META.get("HTTP_AUTHORIZATION", "")
            )
        except InvalidToken as exc:
            found = exc
        setattr(request, _REQUEST_TOKEN, found)
    found = getattr(request, _REQUEST_TOKEN)
    if isinstance(found, InvalidToken):
        raise found
    return found


class ApiTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <token>`` (or ``Token <token>``) with an :class:`accounts.models.ApiToken`.

    ``request.user`` is the token's user and ``request.auth`` the token, whose
    ``workspace`` is the tenant every query of the request goes through. Revoked and
    expired tokens, inactive users and users no longer in the token's workspace get 401.
    """

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        try:
            token = request_token(request._request)
        except InvalidToken as exc:
            raise AuthenticationFailed(str(exc)) from None
        return None if token is None else (token.user, token)

    def authenticate_header(self, request: Request) -> str:
        return TOKEN_SCHEME


class SessionWorkspaceAuthentication(SessionAuthentication):
    """The signed-in dashboard user, acting on the workspace picked in the switcher.

    CSRF is enforced as in DRF's :class:`SessionAuthentication` (send ``X-CSRFToken``).
    It must come after :class:`ApiTokenAuthentication` in the settings: DRF takes the
    ``WWW-Authenticate`` header from the first class, and without one answers 403 instead
    of 401 to a request with no credentials.
    """

    def authenticate(self, request: Request) -> tuple[User, SessionAccess] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        user = result[0]
        # Imported here: accounts.workspaces pulls in mail and templates, which DRF's import of
        # this module (while building APIView) does not need.
        from accounts.workspaces import current_workspace

        workspace = current_workspace(request._request)
        if not Membership.objects.filter(workspace=workspace, user=user).exists():
            raise AuthenticationFailed("You are not a member of this workspace.")
        return user, SessionAccess(workspace)
