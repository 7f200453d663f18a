"""The auth API: register, log in and out, the profile, and token management."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from allauth.account.internal.flows.email_verification import send_verification_email_to_address
from allauth.account.models import EmailAddress
from allauth.account.utils import setup_user_email
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import logins
from accounts.models import TOKEN_SCHEME, UNVERIFIED_TOKEN_LIFETIME, Ability, ApiToken, User, Workspace
from accounts.requests import TokenRequest
from accounts.serializers import (
    LoginSerializer,
    RegisterSerializer,
    TokenCreateSerializer,
    TokenSerializer,
    UserSerializer,
    WorkspaceSerializer,
)
from upscaler_site.api import TooManyRequests, ok

#: What apps above accounts add to the profile (``GET /api/user``, register, login): each function
#: gets the token's workspace and returns keys to add. billing adds ``pricing_plan`` in its
#: ``AppConfig.ready``, so accounts imports nothing of the apps that build on it.
PROFILE_SECTIONS: list[Callable[[Workspace], dict[str, Any]]] = []


def user_payload(user: User, token: ApiToken) -> dict[str, Any]:
    """The profile: the user, the workspace the token acts on, every workspace they belong to, and
    the :data:`PROFILE_SECTIONS` of the token's workspace."""
    data = dict(UserSerializer(user).data)
    context = {"user": user}
    data["workspace"] = WorkspaceSerializer(token.workspace, context=context).data
    data["workspaces"] = WorkspaceSerializer(user.workspaces.order_by("-personal", "name"), many=True,
                                             context=context).data  # fmt: skip
    for section in PROFILE_SECTIONS:
        data.update(section(token.workspace))
    return data


class PublicView(APIView):
    """A view anyone may call; wrong credentials are still 401 (not DRF's 403 for header-less views).

    Anonymous requests are limited per client IP (billing.ratelimit), which also
    slows down password guessing.
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request: Request) -> str:
        return TOKEN_SCHEME


class RegisterView(PublicView):
    """``POST /api/auth/register``: create an account and send the verification email.

    The token returned can only read ``/api/user`` until the address is verified.
    """

    def post(self, request: Request) -> Response:
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with transaction.atomic():
            user = User.objects.create_user(data["email"], data["password"], name=data["name"])
            setup_user_email(request._request, user, [])
            token, key = ApiToken.issue(user, user.personal_workspace, data.get("device_name") or "API",
                                        expires_at=timezone.now() + UNVERIFIED_TOKEN_LIFETIME)  # fmt: skip
        address = EmailAddress.objects.get(user=user, primary=True)
        send_verification_email_to_address(request._request, address, signup=True)
        return ok(
            {"user": user_payload(user, token), "token": key, "token_type": TOKEN_SCHEME},
            "Registration successful. Please verify your email to access all features.",
            status.HTTP_201_CREATED,
        )


class LoginView(PublicView):
    """``POST /api/auth/login``: email and password for a new token (of the personal workspace by default)."""

    def post(self, request: Request) -> Response:
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            user = logins.authenticate(request._request, data["email"], data["password"])
        except logins.TooManyAttempts as exc:
            raise TooManyRequests(str(exc), logins.RETRY_AFTER) from None
        if user is None:
            # Says nothing about which of the two was wrong.
            raise AuthenticationFailed("These credentials do not match our records.")
        if not user.email_verified:
            raise PermissionDenied("Verify your email address before logging in: follow the link we emailed you.")
        workspace = user.workspace(data["workspace"]) if "workspace" in data else user.personal_workspace
        if workspace is None:
            raise PermissionDenied("You are not a member of that workspace.")
        token, key = ApiToken.issue(user, workspace, data.get("device_name") or "API")
        return ok({"user": user_payload(user, token), "token": key, "token_type": TOKEN_SCHEME}, "Login successful")


class LogoutView(APIView):
    """``POST /api/auth/logout``: revoke the token of this request."""

    allow_unverified = True

    def post(self, request: TokenRequest) -> Response:
        request.auth.revoke()
        return ok(None, "Logout successful")


class RevokeAllView(APIView):
    """``POST /api/auth/revoke-all``: revoke every token of the user, in every workspace (``tokens:write``)."""

    allow_unverified = True
    required_abilities = {"POST": Ability.TOKENS_WRITE}

    def post(self, request: TokenRequest) -> Response:
        count = request.user.api_tokens.revoke()
        return ok({"revoked": count}, "All tokens revoked successfully")


class UserView(APIView):
    """``GET /api/user``: the profile, readable even before the email is verified."""

    allow_unverified = True
    required_abilities = {"GET": Ability.USER_READ}

    def get(self, request: TokenRequest) -> Response:
        return ok(user_payload(request.user, request.auth), "User retrieved successfully")


class TokenListView(APIView):
    """``GET /api/user/tokens`` lists the user's active tokens; ``POST`` creates one (secret shown once)."""

    required_abilities = {"GET": Ability.USER_READ, "POST": Ability.TOKENS_WRITE}

    def get(self, request: TokenRequest) -> Response:
        tokens = request.user.api_tokens.active().select_related("workspace")
        data = TokenSerializer(tokens, many=True).data
        return ok({"tokens": data, "count": len(data)}, "API tokens retrieved successfully")

    def post(self, request: TokenRequest) -> Response:
        serializer = TokenCreateSerializer(data=request.data, context={"token": request.auth})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        token, key = ApiToken.issue(
            request.user,
            request.auth.workspace,
            data["name"],
            data.get("abilities", request.auth.abilities),
            expires_at=data.get("expires_at"),
        )
        payload = {**TokenSerializer(token).data, "token": key}
        return ok(payload, "Token created successfully. Copy it now: it is not shown again.", status.HTTP_201_CREATED)


class TokenDetailView(APIView):
    """``DELETE /api/user/tokens/{id}``: revoke one of the user's tokens."""

    required_abilities = {"DELETE": Ability.TOKENS_WRITE}

    def delete(self, request: TokenRequest, pk: int) -> Response:
        token = get_object_or_404(request.user.api_tokens.active(), pk=pk)
        token.revoke()
        return ok(None, "Token revoked successfully")
