"""API permissions: a verified email address and the token's abilities."""

from __future__ import annotations

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.models import ApiToken, SessionAccess, User, Workspace
from accounts.requests import ApiRequest, TokenRequest


class TokenAbilities(BasePermission):
    """Check the token against the view's ``required_abilities`` ({HTTP method: ability}).

    Until the user has verified their email address, a token can only reach views
    that set ``allow_unverified = True`` (reading the profile).

    A dashboard session (:class:`~accounts.authentication.SessionAccess`) has the image
    abilities and nothing else: views about the token itself (logout, token management,
    the profile) need a real token.
    """

    def has_permission(self, request: Request, view) -> bool:
        token = request.auth
        if isinstance(token, SessionAccess):
            ability = getattr(view, "required_abilities", {}).get(request.method)
            if ability is None or not token.can(ability):
                raise PermissionDenied("This endpoint needs an API token (Authorization: Bearer <token>).")
        elif not isinstance(token, ApiToken):
            return False
        if not isinstance(request.user, User):
            return False
        if not getattr(view, "allow_unverified", False) and not request.user.email_verified:
            raise PermissionDenied("Verify your email address first: follow the link we emailed you.")
        ability = getattr(view, "required_abilities", {}).get(request.method)
        if ability and not token.can(ability):
            raise PermissionDenied(f"This token lacks the {ability} ability.")
        return True


def request_workspace(request: ApiRequest | TokenRequest) -> Workspace:
    """The workspace the request acts on: the token's, or the dashboard session's current one."""
    return request.auth.workspace
