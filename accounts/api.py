"""The auth API: register, log in and out, the profile, and token management."""

from __future__ import annotations

from typing import Any

from allauth.account.internal.flows.email_verification import send_verification_email_to_address
from allauth.account.models import EmailAddress
from allauth.account.utils import setup_user_email
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import examples, logins
from accounts import openapi as _openapi  # noqa: F401  (registers the security schemes)
from accounts.models import TOKEN_SCHEME, UNVERIFIED_TOKEN_LIFETIME, Ability, ApiToken, User
from accounts.requests import TokenRequest
from accounts.serializers import (
    CreatedTokenSerializer,
    IssuedTokenSerializer,
    LoginSerializer,
    ProfileSerializer,
    RegisterSerializer,
    TokenCreateSerializer,
    TokenListSerializer,
)
from upscaler_site.api import TooManyRequests, ok
from upscaler_site.openapi import MESSAGE, envelope, error


def issued(user: User, token: ApiToken, key: str) -> dict[str, Any]:
    """Register's and login's ``data``: the profile (as of ``token``'s workspace) and the new token."""
    return dict(IssuedTokenSerializer({"user": user, "token": key}, context={"workspace": token.workspace}).data)


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

    @extend_schema(
        summary="Register",
        description="Create an account and receive a token; a verification email is sent. Until the address is "
        "verified the token can only read `GET /api/user`, and it expires after 24 hours.",
        request=RegisterSerializer,
        responses={201: envelope("RegisterResponse", IssuedTokenSerializer())},
        examples=[examples.REGISTERED],
    )
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
            issued(user, token, key),
            "Registration successful. Please verify your email to access all features.",
            status.HTTP_201_CREATED,
        )


class LoginView(PublicView):
    """``POST /api/auth/login``: email and password for a new token (of the personal workspace by default)."""

    @extend_schema(
        summary="Log in",
        description="A new token for email and password; the address must be verified. The token acts on the "
        "personal workspace unless `workspace` names another one the user belongs to.",
        request=LoginSerializer,
        responses={
            200: envelope("LoginResponse", IssuedTokenSerializer()),
            401: error("The email address or the password is wrong."),
            403: error("The email address is not verified yet, or the user is not in that workspace."),
        },
        examples=[examples.LOGGED_IN],
    )
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
        return ok(issued(user, token, key), "Login successful")


class LogoutView(APIView):
    """``POST /api/auth/logout``: revoke the token of this request."""

    allow_unverified = True

    @extend_schema(summary="Log out", description="Revoke the token of this request.", request=None,
                   responses=MESSAGE)  # fmt: skip
    def post(self, request: TokenRequest) -> Response:
        request.auth.revoke()
        return ok(None, "Logout successful")


class RevokeAllView(APIView):
    """``POST /api/auth/revoke-all``: revoke every token of the user, in every workspace (``tokens:write``)."""

    allow_unverified = True
    required_abilities = {"POST": Ability.TOKENS_WRITE}

    @extend_schema(
        summary="Revoke all tokens",
        description="Revoke every token of the user, in every workspace: use it if a token leaked.",
        request=None,
        responses=envelope("RevokedResponse", inline_serializer("Revoked", {"revoked": serializers.IntegerField()})),
    )
    def post(self, request: TokenRequest) -> Response:
        count = request.user.api_tokens.revoke()
        return ok({"revoked": count}, "All tokens revoked successfully")


class UserView(APIView):
    """``GET /api/user``: the profile, readable even before the email is verified."""

    allow_unverified = True
    required_abilities = {"GET": Ability.USER_READ}

    @extend_schema(
        summary="Profile",
        description="The user, the workspace the token acts on, every workspace they belong to, and the plan. "
        "Readable before the email address is verified.",
        responses=envelope("UserResponse", ProfileSerializer()),
        examples=[examples.PROFILE],
    )
    def get(self, request: TokenRequest) -> Response:
        data = ProfileSerializer(request.user, context={"workspace": request.auth.workspace}).data
        return ok(data, "User retrieved successfully")


class TokenListView(APIView):
    """``GET /api/user/tokens`` lists the user's active tokens; ``POST`` creates one (secret shown once)."""

    required_abilities = {"GET": Ability.USER_READ, "POST": Ability.TOKENS_WRITE}

    @extend_schema(
        summary="List tokens",
        description="The user's active tokens, in every workspace.",
        responses=envelope("TokenListResponse", TokenListSerializer()),
        examples=[examples.TOKENS],
    )
    def get(self, request: TokenRequest) -> Response:
        tokens = list(request.user.api_tokens.active().select_related("workspace"))
        return ok(TokenListSerializer(tokens).data, "API tokens retrieved successfully")

    @extend_schema(
        summary="Create a token",
        description="A new token of the workspace this request acts on, with at most this token's abilities "
        "and expiry. Its secret is in the answer only.",
        request=TokenCreateSerializer,
        responses={201: envelope("CreatedTokenResponse", CreatedTokenSerializer())},
    )
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
        return ok(
            CreatedTokenSerializer(token, context={"key": key}).data,
            "Token created successfully. Copy it now: it is not shown again.",
            status.HTTP_201_CREATED,
        )


class TokenDetailView(APIView):
    """``DELETE /api/user/tokens/{id}``: revoke one of the user's tokens."""

    required_abilities = {"DELETE": Ability.TOKENS_WRITE}

    @extend_schema(summary="Revoke a token", description="Revoke one of the user's tokens, by its id.",
                   responses={200: MESSAGE})  # fmt: skip
    def delete(self, request: TokenRequest, pk: int) -> Response:
        token = get_object_or_404(request.user.api_tokens.active(), pk=pk)
        token.revoke()
        return ok(None, "Token revoked successfully")
