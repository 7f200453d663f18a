"""Validation and JSON shapes for the auth API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import ALL_ABILITIES, TOKEN_SCHEME, ApiToken, User, Workspace
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
        read_only_fields = fields

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
        read_only_fields = fields


#: Fields that apps above accounts add to the profile, by name: each a factory of a read-only field
#: that may read ``context["workspace"]``. billing adds ``pricing_plan`` in its ``AppConfig.ready``,
#: so accounts imports nothing of the apps that build on it.
PROFILE_FIELDS: dict[str, Callable[[], serializers.Field]] = {}


class ProfileSerializer(UserSerializer):
    """The profile (``GET /api/user``, register, login): the user, the workspace the token acts on
    (``context["workspace"]``), every workspace they belong to, and the :data:`PROFILE_FIELDS`."""

    workspace = serializers.SerializerMethodField()
    workspaces = serializers.SerializerMethodField()

    class Meta(UserSerializer.Meta):
        fields = [*UserSerializer.Meta.fields, "workspace", "workspaces"]
        read_only_fields = fields

    @extend_schema_field(WorkspaceSerializer)
    def get_workspace(self, user: User) -> dict[str, Any]:
        return dict(WorkspaceSerializer(self.context["workspace"], context={"user": user}).data)

    @extend_schema_field(WorkspaceSerializer(many=True))
    def get_workspaces(self, user: User) -> list[Any]:
        workspaces = user.workspaces.order_by("-personal", "name")
        return list(WorkspaceSerializer(workspaces, many=True, context={"user": user}).data)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields.update((name, make()) for name, make in PROFILE_FIELDS.items())
        return fields


class IssuedTokenSerializer(serializers.Serializer[Any]):
    """Register's and login's ``data``: the profile, and the new token's secret (shown once) and scheme.

    Serializes ``{"user": User, "token": str}``; ``context["workspace"]`` is the token's.
    """

    user = ProfileSerializer()
    token = serializers.CharField(help_text="The API token: send it as `Authorization: Bearer <token>`.")
    token_type = serializers.SerializerMethodField()

    def get_token_type(self, issued: Any) -> Literal["Bearer"]:
        return TOKEN_SCHEME  # type: ignore[return-value]


class TokenSerializer(serializers.ModelSerializer):
    """A token as listed: never its secret."""

    workspace = serializers.IntegerField(source="workspace_id", read_only=True)
    abilities = serializers.ListField(child=serializers.ChoiceField(choices=ALL_ABILITIES), read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "workspace", "abilities", "last_used_at", "expires_at", "created_at"]
        read_only_fields = fields


class TokenListSerializer(serializers.Serializer[Any]):
    """``GET /api/user/tokens``: ``{"tokens": [...], "count": n}`` of a list of tokens."""

    tokens = TokenSerializer(many=True, source="*")
    count = serializers.SerializerMethodField()

    def get_count(self, tokens: list[ApiToken]) -> int:
        return len(tokens)


class CreatedTokenSerializer(TokenSerializer):
    """A token just created, with its secret (``context["key"]``): the only time it is shown."""

    token = serializers.SerializerMethodField(help_text="The secret. It is not shown again.")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]
        read_only_fields = fields

    def get_token(self, token: ApiToken) -> str:
        return str(self.context["key"])


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
