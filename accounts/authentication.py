"""API authentication: workspace tokens, and the dashboard's session.

Kept apart from views: DRF imports it while building APIView.
"""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework.authentication import BaseAuthentication, SessionAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from accounts.models import Ability, ApiToken, Membership, User, Workspace


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


# What the dashboard does through the API: upload, read and delete images and batches.
# Token management and logout act on "the token of the request", which a session has not.
SESSION_ABILITIES = frozenset({Ability.IMAGES_READ, Ability.IMAGES_WRITE, Ability.IMAGES_DELETE})


@dataclass(frozen=True)
class SessionAccess:
    """``request.auth`` of a dashboard request: the session's current workspace, in place of a token.

    It answers the questions views ask of a token (``workspace``, ``can``), so the
    image and batch API serve the dashboard unchanged.
    """

    workspace: Workspace

    @property
    def workspace_id(self) -> int:
        return self.workspace.pk

    def can(self, ability: str) -> bool:
        """Members may do in their current workspace what the dashboard offers: the image abilities."""
        return ability in SESSION_ABILITIES


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
