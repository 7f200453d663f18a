"""Validation and JSON shapes for the auth API."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from rest_framework import serializers

from accounts.models import ALL_ABILITIES, ApiToken, User, Workspace
from upscaler_site.serializers import RequestSerializer


class RegisterSerializer(RequestSerializer):
    name = serializers.CharField(max_length=255)
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True, trim_whitespace=False)
    password_confirmation = serializers.CharField(write_only=True, trim_whitespace=False)
    device_name = serializers.CharField(max_length=100, required=False)

    def validate_email(self, email: str) -> str:
        from allauth.account.models import EmailAddress

        email = email.lower()
        if (
            User.objects.filter(email__iexact=email).exists()
            or EmailAddress.objects.filter(email__iexact=email).exists()
        ):
            raise serializers.ValidationError("An account with this email address already exists.")
        return email

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["password"] != attrs["password_confirmation"]:
            raise serializers.ValidationError({"password_confirmation": ["The passwords do not match."]})
        try:
            password_validation.validate_password(attrs["password"], User(email=attrs["email"], name=attrs["name"]))
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)}) from None
        return attrs


class LoginSerializer(RequestSerializer):
    email = serializers.EmailField()
    password = serializers.CharField(trim_whitespace=False)
    device_name = serializers.CharField(max_length=100, required=False)
    workspace = serializers.IntegerField(required=False, help_text="Workspace id; default: the personal one.")


class WorkspaceSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Workspace
        fields = ["id", "name", "personal", "role"]

    def get_role(self, workspace: Workspace) -> str | None:
        user = self.context.get("user")
        return user.role_in(workspace) if user else None


class UserSerializer(serializers.ModelSerializer[User]):
    """A user as the documented API shows one, plus ``email_verified`` (a boolean, ours)."""

    email_verified = serializers.BooleanField(read_only=True)
    profile_photo_url = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(source="date_joined", read_only=True)

    class Meta:
        model = User
        fields = ["id", "name", "email", "email_verified_at", "profile_photo_url", "created_at", "updated_at",
                  "email_verified"]  # fmt: skip


class TokenSerializer(serializers.ModelSerializer):
    """A token as listed: never its secret."""

    workspace = serializers.IntegerField(source="workspace_id", read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "workspace", "abilities", "last_used_at", "expires_at", "created_at"]


class TokenCreateSerializer(RequestSerializer):
    name = serializers.CharField(max_length=100)
    abilities = serializers.ListField(
        child=serializers.ChoiceField(choices=ALL_ABILITIES), allow_empty=False, required=False
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)

    def validate_expires_at(self, value):
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("Must be in the future.")
        granting: ApiToken = self.context["token"]
        if granting.expires_at and (value is None or value > granting.expires_at):
            raise serializers.ValidationError("Cannot outlive the token that creates it.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # A token that expires cannot mint one that does not.
        attrs.setdefault("expires_at", self.context["token"].expires_at)
        return attrs

    def validate_abilities(self, abilities: list[str]) -> list[str]:
        granting: ApiToken = self.context["token"]
        missing = sorted(set(abilities) - set(granting.abilities))
        if missing:
            raise serializers.ValidationError(f"A token cannot grant abilities it does not have: {', '.join(missing)}.")
        return abilities
