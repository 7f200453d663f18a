"""API authentication by workspace tokens. Kept apart from views: DRF imports it while building APIView."""

from __future__ import annotations

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from accounts.models import ApiToken, Membership, User


class ApiTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <token>`` with an :class:`accounts.models.ApiToken`.

    ``request.user`` is the token's user and ``request.auth`` the token, whose
    ``workspace`` is the tenant every query of the request goes through. Revoked and
    expired tokens, inactive users and users no longer in the token's workspace get 401.
    """

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Invalid Authorization header: use 'Bearer <token>'.")
        token = ApiToken.from_key(parts[1].decode("latin-1"))
        if token is None or token.revoked_at is not None:
            raise AuthenticationFailed("Invalid token.")
        if token.is_expired:
            raise AuthenticationFailed("The token has expired.")
        if not token.user.is_active:
            raise AuthenticationFailed("The account is deactivated.")
        if not Membership.objects.filter(workspace_id=token.workspace_id, user_id=token.user_id).exists():
            raise AuthenticationFailed("Invalid token.")
        token.touch()
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
