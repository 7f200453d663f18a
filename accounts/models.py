"""Users, workspaces (the tenants), memberships, invitations and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models, transaction
from django.utils import timezone
from django.utils.http import urlencode


class UserManager(BaseUserManager["User"]):
    """Users are identified by their email address; there is no username."""

    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **extra)


#: Where a user fetched with its token keeps whether its address is verified, for the rest of the request.
_EMAIL_VERIFIED = "_email_verified"


class User(AbstractUser):
    """A person who signs in with email and password."""

    username = None  # type: ignore[assignment]
    first_name = None  # type: ignore[assignment]
    last_name = None  # type: ignore[assignment]
    email = models.EmailField("email address", unique=True)
    name = models.CharField(max_length=255, blank=True)
    email_verified_at = models.DateTimeField(
        null=True, blank=True, help_text="When the current address was verified (accounts.signals)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]  # email, not username

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.name or self.email

    def get_short_name(self) -> str:
        return self.name or self.email

    @property
    def email_verified(self) -> bool:
        """Whether the primary address has been verified through the emailed link.

        Read once per request: the token lookup brings the answer along (:meth:`ApiTokenQuerySet.authenticate`).
        """
        known: bool | None = self.__dict__.get(_EMAIL_VERIFIED)
        return User.verified_addresses(self, self.email).exists() if known is None else known

    @staticmethod
    def verified_addresses(user: Any, email: Any) -> models.QuerySet[Any]:
        """The verified ``EmailAddress`` rows that make ``user``'s address ``email`` verified: values, or
        ``OuterRef`` expressions in a subquery."""
        from allauth.account.models import EmailAddress

        return EmailAddress.objects.filter(user=user, email__iexact=email, verified=True)

    @property
    def profile_photo_url(self) -> str:
        """An avatar with the user's initials (ui-avatars.com, as Laravel Jetstream draws them)."""
        return "https://ui-avatars.com/api/?" + urlencode(
            {"name": self.name or self.email.split("@")[0], "color": "7F9CF5", "background": "EBF4FF"}
        )

    @property
    def personal_workspace(self) -> Workspace:
        return self.workspaces.get(personal=True, memberships__role=Membership.Role.OWNER)

    def owned_workspaces(self) -> models.QuerySet[Workspace]:
        """The workspaces this user owns; they are deleted with the user (accounts.signals)."""
        return Workspace.objects.filter(memberships__user=self, memberships__role=Membership.Role.OWNER)

    def workspace(self, workspace_id: int) -> Workspace | None:
        """The workspace with ``workspace_id`` if this user is a member of it, else None."""
        return self.workspaces.filter(pk=workspace_id).first()

    def role_in(self, workspace: Workspace) -> str | None:
        """This user's role in ``workspace``, or None if not a member."""
        return Membership.objects.filter(workspace=workspace, user=self).values_list("role", flat=True).first()

    def manages(self, workspace: Workspace) -> bool:
        """Whether this user is an owner or admin of ``workspace`` (:attr:`Membership.MANAGERS`)."""
        return self.role_in(workspace) in Membership.MANAGERS


class Workspace(models.Model):
    """A tenant: it owns images, tokens, the plan and the usage. Users join it through memberships."""

    name = models.CharField(max_length=100)
    personal = models.BooleanField(default=False, help_text="Created for its owner at sign-up.")
    members = models.ManyToManyField(User, through="Membership", related_name="workspaces")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name

    @property
    def owner(self) -> User | None:
        membership = self.memberships.filter(role=Membership.Role.OWNER).select_related("user").first()
        return membership.user if membership else None

    @classmethod
    @transaction.atomic
    def create_for(cls, user: User, name: str, *, personal: bool = False) -> Workspace:
        """A new workspace owned by ``user``."""
        workspace = cls.objects.create(name=name, personal=personal)
        Membership.objects.create(workspace=workspace, user=user, role=Membership.Role.OWNER)
        return workspace

    @transaction.atomic
    def remove_member(self, user: User) -> None:
        """Take ``user`` out of this workspace, revoke their tokens for it and cancel the invitations they sent.

        Raises:
            ValueError: ``user`` is the owner (a workspace always has one).
        """
        membership = self.memberships.select_for_update().get(user=user)
        if membership.role == Membership.Role.OWNER:
            raise ValueError("The owner cannot be removed from the workspace.")
        membership.delete()
        now = timezone.now()
        ApiToken.objects.filter(workspace=self, user=user, revoked_at__isnull=True).update(revoked_at=now)
        # Nobody joins on the word of someone who has left.
        Invitation.objects.filter(workspace=self, invited_by=user).pending().update(cancelled_at=now)


class Membership(models.Model):
    """A user's role in a workspace."""

    class Role(models.TextChoices):
        OWNER = "owner"
        ADMIN = "admin"
        MEMBER = "member"

    #: The roles that manage a workspace: its members and invitations, its plan and payment details.
    MANAGERS = (Role.OWNER, Role.ADMIN)

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workspace", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="one_membership_per_user"),
            models.UniqueConstraint(
                fields=["workspace"], condition=models.Q(role="owner"), name="one_owner_per_workspace"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.workspace}"

    @property
    def is_manager(self) -> bool:
        """Owners and admins manage the workspace (members, invitations, billing); only the owner changes roles."""
        return self.role in self.MANAGERS


def _invitation_key() -> str:
    return secrets.token_urlsafe(32)


class InvitationQuerySet(models.QuerySet["Invitation"]):
    def pending(self) -> InvitationQuerySet:
        """Neither accepted, cancelled nor expired."""
        cutoff = timezone.now() - Invitation.VALID_FOR
        return self.filter(accepted_at__isnull=True, cancelled_at__isnull=True, created_at__gt=cutoff)


class Invitation(models.Model):
    """An emailed invitation to join a workspace with a role; accepted by following its link."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    # A workspace has exactly one owner, so nobody is invited as one.
    role = models.CharField(
        max_length=16,
        choices=[(Membership.Role.ADMIN, "Admin"), (Membership.Role.MEMBER, "Member")],
        default=Membership.Role.MEMBER,
    )
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    key = models.CharField(max_length=64, unique=True, default=_invitation_key)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(default=timezone.now, help_text="When the email last went out.")
    accepted_at = models.DateTimeField(null=True, blank=True)
    # Kept, not deleted: a cancelled invitation still counts against the daily limits.
    cancelled_at = models.DateTimeField(null=True, blank=True)

    VALID_FOR = timedelta(days=7)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} to {self.workspace}"

    @property
    def is_valid(self) -> bool:
        return (
            self.accepted_at is None and self.cancelled_at is None and timezone.now() < self.created_at + self.VALID_FOR
        )

    @transaction.atomic
    def accept(self, user: User) -> Membership:
        """Make ``user`` a member with the invited role (an existing membership is kept as is).

        Raises:
            ValueError: the invitation was used, has expired or is for another address.
        """
        invitation = Invitation.objects.select_for_update().get(pk=self.pk)
        if not invitation.is_valid:
            raise ValueError("This invitation has expired or was already used.")
        if invitation.role not in (Membership.Role.ADMIN, Membership.Role.MEMBER):
            raise ValueError("Invitations can only be for admins or members.")
        if user.email.lower() != invitation.email.lower():
            raise ValueError(f"This invitation is for {invitation.email}; sign in with that address.")
        membership, _ = Membership.objects.get_or_create(
            workspace=invitation.workspace, user=user, defaults={"role": invitation.role}
        )
        invitation.accepted_at = timezone.now()
        invitation.save(update_fields=["accepted_at"])
        return membership


class Ability(models.TextChoices):
    """What an API token may do."""

    IMAGES_READ = "images:read", "Read images"
    IMAGES_WRITE = "images:write", "Upload images"
    IMAGES_DELETE = "images:delete", "Delete images"
    USER_READ = "user:read", "Read the profile, usage and tokens"
    TOKENS_WRITE = "tokens:write", "Create and revoke tokens"
    BILLING_WRITE = "billing:write", "Start Checkout and the billing portal"
    WEBHOOKS_WRITE = "webhooks:write", "Manage webhook endpoints and see their deliveries"


ALL_ABILITIES = [a.value for a in Ability]
TOKEN_PREFIX = "ups_"
# Characters of the token kept in clear, to tell tokens apart in lists.
DISPLAY_PREFIX_LENGTH = 12


def hash_token(key: str) -> str:
    """SHA-256 of a token. Tokens carry 256 bits of randomness, so a fast hash is enough."""
    return hashlib.sha256(key.encode()).hexdigest()


#: The ``Authorization`` scheme of API tokens, as documented and as answered in ``WWW-Authenticate``.
TOKEN_SCHEME = "Bearer"
#: Every scheme a token is accepted under: ``Token <key>`` is the style of DRF's TokenAuthentication
#: and of some competitors' clients.
TOKEN_SCHEMES = frozenset({"bearer", "token"})


class InvalidToken(Exception):
    """An ``Authorization`` header names an API token that cannot be used; the message says why, for the client."""


#: How long a token minted for an account whose address is not verified yet stays valid: whoever
#: registered an address they do not own must not keep a token once its owner takes it over.
UNVERIFIED_TOKEN_LIFETIME = timedelta(hours=24)


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> ApiTokenQuerySet:
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).exclude(expires_at__lte=now)

    def revoke(self) -> int:
        return self.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())

    def authenticate(self, header: str) -> ApiToken | None:
        """The usable token an ``Authorization`` header value carries (``Bearer <token>`` or
        ``Token <token>``).

        The one token lookup of the service: API authentication and the rate limiter both
        go through it (once per request: :func:`accounts.authentication.request_token`).
        Returns None when the header is not a token scheme at all (empty, or ``Basic …``).

        Raises:
            InvalidToken: a malformed header, an unknown, revoked or expired token, a
                deactivated user, or a user no longer in the token's workspace.
        """
        parts = header.split()
        if not parts or parts[0].lower() not in TOKEN_SCHEMES:
            return None
        if len(parts) != 2:
            raise InvalidToken(f"Invalid Authorization header: use '{TOKEN_SCHEME} <token>'.")
        # One query for what every API request needs to know: authentication is the largest part of a
        # status poll's time, and one query costs less CPU than three (docs/benchmarks.md, Load).
        token: ApiToken | None = (
            self.select_related("user", "workspace")
            .annotate(
                member=models.Exists(Membership.objects.filter(workspace_id=models.OuterRef("workspace_id"),
                                                               user_id=models.OuterRef("user_id"))),
                user_verified=models.Exists(User.verified_addresses(models.OuterRef("user_id"),
                                                                    models.OuterRef("user__email"))),
            )
            .filter(key_hash=hash_token(parts[1]))
            .first()
        )  # fmt: skip
        if token is None or token.revoked_at is not None:
            raise InvalidToken("Invalid token.")
        if token.is_expired:
            raise InvalidToken("The token has expired.")
        if not token.user.is_active:
            raise InvalidToken("The account is deactivated.")
        if not token.member:
            raise InvalidToken("Invalid token.")
        token.user.__dict__[_EMAIL_VERIFIED] = token.user_verified
        token.touch()
        return token


class ApiToken(models.Model):
    """A named API token of one user in one workspace, stored hashed, with abilities.

    The secret is shown once, when created; only its SHA-256 and its first
    ``DISPLAY_PREFIX_LENGTH`` characters are stored.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=DISPLAY_PREFIX_LENGTH, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    abilities = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()
    # Annotations of the query that authenticates a request (ApiTokenQuerySet.authenticate).
    member: bool
    user_verified: bool

    # Writing last_used_at on every request would turn each read into a write.
    LAST_USED_RESOLUTION = timedelta(minutes=1)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(
        cls,
        user: User,
        workspace: Workspace,
        name: str,
        abilities: list[str] | None = None,
        expires_at=None,
    ) -> tuple[ApiToken, str]:
        """Create a token; returns (record, secret). The secret cannot be recovered later."""
        key = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user,
            workspace=workspace,
            name=name[:100] or "API token",
            prefix=key[:DISPLAY_PREFIX_LENGTH],
            key_hash=hash_token(key),
            abilities=sorted(set(ALL_ABILITIES if abilities is None else abilities)),
            expires_at=expires_at,
        )
        return token, key

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    def can(self, ability: str) -> bool:
        return ability in self.abilities

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            ApiToken.objects.filter(pk=self.pk).revoke()

    def touch(self) -> None:
        """Record a use, at most once per ``LAST_USED_RESOLUTION``."""
        now = timezone.now()
        if self.last_used_at is None or now - self.last_used_at >= self.LAST_USED_RESOLUTION:
            self.last_used_at = now
            ApiToken.objects.filter(pk=self.pk).update(last_used_at=now)


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


def personal_workspace_name(user: User) -> str:
    return f"{user.name or user.email.split('@')[0]}'s workspace"[:100]


class IdempotencyKey(models.Model):
    """An ``Idempotency-Key`` a workspace sent with a POST, and the answer it got (:mod:`accounts.idempotency`).

    The unique constraint is what makes duplicates safe: the first request's INSERT wins,
    the others find its row.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the request: method, path, query, body.")
    path = models.CharField(max_length=255)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True, help_text="None while it runs.")
    response_body = models.TextField(blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "key"], name="idempotency_key_unique")]

    def __str__(self) -> str:
        return f"{self.key} ({self.path})"
