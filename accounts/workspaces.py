"""The web session's current workspace, and the rules of the account pages kept out of the views.

The API acts on the workspace of its token; the web pages act on the workspace the
user picked in the switcher, remembered in the session under ``SESSION_KEY``.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invitation, Membership, User, Workspace, personal_workspace_name
from accounts.requests import AuthenticatedHttpRequest

SESSION_KEY = "workspace_id"
# Where current_workspace() caches its answer for the rest of the request.
_REQUEST_CACHE = "_current_workspace"

Role = Membership.Role


# --- The current workspace ---------------------------------------------------------------------


def _fallback_workspace(user: User) -> Workspace:
    """The user's personal workspace; failing that any of theirs; failing that a new personal one."""
    workspace = (
        Workspace.objects.filter(personal=True, memberships__user=user, memberships__role=Role.OWNER).first()
        or user.workspaces.order_by("-personal", "name", "pk").first()
    )
    if workspace is None:
        # Only reachable when someone deleted every workspace of the user (the admin, say).
        workspace = Workspace.create_for(user, personal_workspace_name(user), personal=True)
    return workspace


def current_workspace(request: HttpRequest) -> Workspace:
    """The workspace the signed-in user is working in.

    It is the one stored in the session if the user is still a member of it, else
    their personal workspace; the answer is stored back in the session.
    """
    cached = getattr(request, _REQUEST_CACHE, None)
    if cached is not None:
        return cached
    user: User = request.user  # type: ignore[assignment]
    stored = request.session.get(SESSION_KEY)
    workspace = user.workspace(stored) if isinstance(stored, int) else None
    if workspace is None:
        workspace = _fallback_workspace(user)
    set_current_workspace(request, workspace)
    return workspace


def set_current_workspace(request: HttpRequest, workspace: Workspace) -> None:
    """Make ``workspace`` the current one for this request and the rest of the session."""
    if request.session.get(SESSION_KEY) != workspace.pk:
        request.session[SESSION_KEY] = workspace.pk
    setattr(request, _REQUEST_CACHE, workspace)


def workspace_context(request: HttpRequest) -> dict:
    """Template context processor: ``current_workspace``, ``user_workspaces`` and ``current_role``.

    All three are empty (None, an empty list, None) for anonymous visitors.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not hasattr(request, "session"):
        return {"current_workspace": None, "user_workspaces": [], "current_role": None}
    workspace = current_workspace(request)
    return {
        "current_workspace": workspace,
        "user_workspaces": list(user.workspaces.order_by("-personal", "name", "pk")),
        "current_role": user.role_in(workspace),
    }


def current_membership(request: AuthenticatedHttpRequest) -> Membership:
    """The signed-in user's membership of their current workspace (:func:`current_workspace`).

    Raises:
        PermissionDenied: they left it during this request.
    """
    membership = Membership.objects.filter(workspace=current_workspace(request), user=request.user).first()
    if membership is None:
        raise PermissionDenied("You are not a member of this workspace.")
    return membership


# --- Members ----------------------------------------------------------------------------------------


def members_of(workspace: Workspace) -> QuerySet[Membership]:
    """The workspace's memberships: the owner first, then admins, then members, each by email."""
    rank = Case(
        When(role=Role.OWNER, then=Value(0)),
        When(role=Role.ADMIN, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return workspace.memberships.select_related("user").annotate(rank=rank).order_by("rank", "user__email")


def can_change_role(actor: Membership, target: Membership) -> bool:
    """Only the owner changes roles, and never the owner's own."""
    return actor.role == Role.OWNER and target.role != Role.OWNER


def can_remove(actor: Membership, target: Membership) -> bool:
    """Nobody removes the owner; the owner removes anyone else; an admin removes plain members only."""
    if target.role == Role.OWNER or not actor.is_manager:
        return False
    return actor.role == Role.OWNER or target.role == Role.MEMBER


def invitable_roles(actor: Membership) -> list[tuple[str, str]]:
    """The roles ``actor`` may invite with: the owner grants admin or member, an admin only member.

    (Only the owner hands out the admin role, whether by invitation or by a role change.)
    """
    if actor.role == Role.OWNER:
        return [(Role.ADMIN.value, Role.ADMIN.label), (Role.MEMBER.value, Role.MEMBER.label)]
    if actor.role == Role.ADMIN:
        return [(Role.MEMBER.value, Role.MEMBER.label)]
    return []


def change_role(target: Membership, role: str) -> None:
    """Set ``target``'s role to admin or member.

    Raises:
        ValueError: ``target`` is the owner, or ``role`` is not admin or member.
    """
    if target.role == Role.OWNER or role not in (Role.ADMIN, Role.MEMBER):
        raise ValueError("Roles change between admin and member only; the owner stays the owner.")
    target.role = role
    target.save(update_fields=["role"])


# --- Invitations ------------------------------------------------------------------------------------


#: Invitations a workspace, and a user, may send in 24 hours; and how soon one address may be mailed again.
INVITATIONS_PER_WORKSPACE_PER_DAY = 20
INVITATIONS_PER_USER_PER_DAY = 50
RESEND_AFTER = timedelta(hours=1)


class InvitationRefused(Exception):
    """An invitation would go over the limits that keep the service from being used to send mail; the
    message says why, for the user."""


def pending_invitations(workspace: Workspace) -> QuerySet[Invitation]:
    """Invitations of ``workspace`` neither accepted, cancelled nor expired, newest first."""
    return Invitation.objects.filter(workspace=workspace).pending()


@transaction.atomic
def invite(workspace: Workspace, inviter: User, email: str, role: str) -> Invitation:
    """An invitation of ``email`` to ``workspace``, to be mailed by :func:`send_invitation`.

    One address has at most one pending invitation per workspace: inviting it again
    updates the role and mails the same link, at most once per :data:`RESEND_AFTER`. New
    invitations count against a workspace's and an inviter's limits per 24 hours
    (cancelled ones too), so nobody can use the service to mail strangers in bulk.

    Raises:
        InvitationRefused: too soon to resend, or over a daily limit.
    """
    email = email.strip().lower()
    now = timezone.now()
    pending = pending_invitations(workspace).select_for_update().filter(email__iexact=email).first()
    if pending is not None:
        if pending.sent_at > now - RESEND_AFTER:
            again = pending.sent_at + RESEND_AFTER
            raise InvitationRefused(f"{email} was invited less than an hour ago; you can send it again after "
                                    f"{again:%H:%M} UTC.")  # fmt: skip
        pending.role, pending.invited_by, pending.sent_at = role, inviter, now
        pending.save(update_fields=["role", "invited_by", "sent_at"])
        return pending
    day = now - timedelta(days=1)
    if Invitation.objects.filter(workspace=workspace, created_at__gt=day).count() >= INVITATIONS_PER_WORKSPACE_PER_DAY:
        raise InvitationRefused(
            f"This workspace has sent {INVITATIONS_PER_WORKSPACE_PER_DAY} invitations in the last 24 hours; "
            "try again tomorrow."
        )
    if Invitation.objects.filter(invited_by=inviter, created_at__gt=day).count() >= INVITATIONS_PER_USER_PER_DAY:
        raise InvitationRefused(
            f"You have sent {INVITATIONS_PER_USER_PER_DAY} invitations in the last 24 hours; try again tomorrow."
        )
    return Invitation.objects.create(workspace=workspace, email=email, role=role, invited_by=inviter)


def send_invitation(request: HttpRequest, invitation: Invitation) -> None:
    """Email the invitation's accept link to its address."""
    context = {
        "invitation": invitation,
        "workspace": invitation.workspace,
        "inviter": invitation.invited_by,
        "accept_url": request.build_absolute_uri(reverse("accounts_web:invitation_accept", args=[invitation.key])),
        "valid_days": Invitation.VALID_FOR.days,
    }
    subject = render_to_string("accounts/email/invitation_subject.txt", context, request=request)
    body = render_to_string("accounts/email/invitation_message.txt", context, request=request)
    send_mail(" ".join(subject.split()), body, None, [invitation.email])


def invitation_problem(invitation: Invitation | None, user: User) -> str | None:
    """Why ``user`` cannot accept ``invitation`` (None if they can); mirrors :meth:`Invitation.accept`."""
    if invitation is None:
        return "This invitation link is not valid. Ask for a new invitation."
    if invitation.cancelled_at is not None:
        return "This invitation was withdrawn. Ask for a new invitation."
    if not invitation.is_valid:
        return "This invitation has expired or was already used. Ask for a new invitation."
    if user.email.lower() != invitation.email.lower():
        return f"This invitation is for {invitation.email}; sign in with that address to accept it."
    return None


# --- API tokens -------------------------------------------------------------------------------------


def expiry_in(days: int | None):
    """The expiry time ``days`` days from now, or None for a token that does not expire."""
    return timezone.now() + timedelta(days=days) if days else None


# --- Account deletion -------------------------------------------------------------------------------


@transaction.atomic
def delete_account(user: User) -> None:
    """Delete ``user`` and every workspace they own, with its images, tokens and invitations.

    Workspaces where they are only an admin or a member lose the membership and
    keep everything else. Image files leave storage once the transaction commits
    (see :func:`images.jobs.forget`).
    """
    user.delete()  # owned workspaces go first: accounts.signals
