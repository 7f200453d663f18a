"""Server-rendered account pages: workspaces, members, invitations, API tokens, the account.

Sign-up, login, email and password pages are allauth's. The views stay thin: the
rules live on the models and in :mod:`accounts.workspaces`.
"""

from __future__ import annotations

from allauth.account.utils import get_next_redirect_url
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import workspaces
from accounts.forms import DeleteAccountForm, InviteForm, RoleForm, TokenForm, WorkspaceForm
from accounts.models import Ability, ApiToken, Invitation, Membership, User, Workspace
from accounts.requests import AuthenticatedHttpRequest

# Session key holding a just-created token's secret until the tokens page shows it once.
NEW_TOKEN_SESSION_KEY = "new_api_token"


def _manager(request: AuthenticatedHttpRequest) -> Membership:
    """The request user's membership of the current workspace; 403 unless they may manage its members."""
    membership = workspaces.current_membership(request)
    if not membership.is_manager:
        raise PermissionDenied("Only the owner and admins manage the members of a workspace.")
    return membership


# --- Workspaces ---------------------------------------------------------------------


@login_required
@require_POST
def workspace_switch(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Make another of the user's workspaces the current one; 404 for anyone else's."""
    try:
        workspace_id = int(request.POST.get("workspace", ""))
    except ValueError:
        workspace_id = 0
    workspace = get_object_or_404(request.user.workspaces, pk=workspace_id)
    workspaces.set_current_workspace(request, workspace)
    messages.success(request, f"You are now working in {workspace.name}.")
    return redirect(get_next_redirect_url(request) or settings.LOGIN_REDIRECT_URL)


@login_required
@require_http_methods(["GET", "POST"])
def workspace_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Create a workspace owned by the user, and switch to it."""
    form = WorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        workspace = Workspace.create_for(request.user, form.cleaned_data["name"])
        workspaces.set_current_workspace(request, workspace)
        messages.success(request, f"Workspace {workspace.name} created. You are its owner.")
        return redirect(settings.LOGIN_REDIRECT_URL)
    return render(request, "accounts/workspace_new.html", {"form": form})


# --- Members and invitations ----------------------------------------------------------------------


def _members_page(
    request: AuthenticatedHttpRequest, invite_form: InviteForm | None = None, status: int = 200
) -> HttpResponse:
    workspace = workspaces.current_workspace(request)
    actor = workspaces.current_membership(request)
    roles = workspaces.invitable_roles(actor)
    if invite_form is None and roles:
        invite_form = InviteForm(workspace=workspace, roles=roles)
    members = [
        {
            "membership": membership,
            "is_me": membership.user_id == request.user.pk,
            "can_change_role": workspaces.can_change_role(actor, membership),
            "can_remove": workspaces.can_remove(actor, membership),
            "role_form": RoleForm(initial={"role": membership.role}, prefix=f"m{membership.user_id}"),
        }
        for membership in workspaces.members_of(workspace)
    ]
    context = {
        "workspace": workspace,
        "actor": actor,
        "members": members,
        "invite_form": invite_form,
        "invitations": workspaces.pending_invitations(workspace) if actor.is_manager else [],
    }
    return render(request, "accounts/members.html", context, status=status)


@login_required
@require_GET
def workspace_members(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The members of the current workspace with their roles, and (for managers) invitations."""
    return _members_page(request)


@login_required
@require_POST
def member_invite(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Owner or admin: invite an email address with a role; the accept link is emailed."""
    workspace = workspaces.current_workspace(request)
    actor = _manager(request)
    form = InviteForm(request.POST, workspace=workspace, roles=workspaces.invitable_roles(actor))
    if not form.is_valid():
        return _members_page(request, invite_form=form, status=400)
    try:
        invitation = workspaces.invite(workspace, request.user, form.cleaned_data["email"], form.cleaned_data["role"])
    except workspaces.InvitationRefused as exc:
        form.add_error("email", str(exc))
        return _members_page(request, invite_form=form, status=429)
    workspaces.send_invitation(request, invitation)
    messages.success(request, f"Invitation sent to {invitation.email}.")
    return redirect("accounts_web:workspace_members")


@login_required
@require_POST
def member_role(request: AuthenticatedHttpRequest, user_id: int) -> HttpResponse:
    """Owner: make a member an admin or an admin a member."""
    workspace = workspaces.current_workspace(request)
    actor = _manager(request)
    target = get_object_or_404(Membership.objects.select_related("user"), workspace=workspace, user_id=user_id)
    if not workspaces.can_change_role(actor, target):
        raise PermissionDenied("Only the owner changes roles, and the owner's role does not change.")
    form = RoleForm(request.POST, prefix=f"m{user_id}")
    if not form.is_valid():
        messages.error(request, "Choose admin or member.")
        return redirect("accounts_web:workspace_members")
    workspaces.change_role(target, form.cleaned_data["role"])
    messages.success(request, f"{target.user.email} is now {target.get_role_display().lower()}.")
    return redirect("accounts_web:workspace_members")


@login_required
@require_POST
def member_remove(request: AuthenticatedHttpRequest, user_id: int) -> HttpResponse:
    """Owner or admin: take someone out of the workspace (their tokens for it are revoked)."""
    workspace = workspaces.current_workspace(request)
    actor = _manager(request)
    target = get_object_or_404(Membership.objects.select_related("user"), workspace=workspace, user_id=user_id)
    if not workspaces.can_remove(actor, target):
        raise PermissionDenied("You cannot remove this member.")
    workspace.remove_member(target.user)
    messages.success(request, f"{target.user.email} was removed from {workspace.name}.")
    return redirect("accounts_web:workspace_members")


@login_required
@require_POST
def invitation_cancel(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Owner or admin: withdraw a pending invitation (its link stops working)."""
    workspace = workspaces.current_workspace(request)
    _manager(request)
    invitation = get_object_or_404(workspaces.pending_invitations(workspace), pk=pk)
    invitation.cancelled_at = timezone.now()
    invitation.save(update_fields=["cancelled_at"])
    messages.success(request, f"The invitation to {invitation.email} was cancelled.")
    return redirect("accounts_web:workspace_members")


@login_required
@require_http_methods(["GET", "POST"])
def invitation_accept(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    """Show an invitation; on POST join its workspace and switch to it."""
    invitation = Invitation.objects.select_related("workspace", "invited_by").filter(key=key).first()
    problem = workspaces.invitation_problem(invitation, request.user)
    if request.method == "POST" and invitation is not None and problem is None:
        try:
            membership = invitation.accept(request.user)
        except ValueError as exc:
            problem = str(exc)
        else:
            workspaces.set_current_workspace(request, membership.workspace)
            role = membership.get_role_display().lower()
            messages.success(request, f"You joined {membership.workspace.name} as {role}.")
            return redirect(settings.LOGIN_REDIRECT_URL)
    status = 200
    if problem:
        status = 404 if invitation is None else 400 if request.method == "POST" else 200
    context = {"invitation": invitation, "problem": problem}
    return render(request, "accounts/invitation.html", context, status=status)


# --- API tokens -----------------------------------------------------------------------------------------


@login_required
@never_cache  # the page may show a new token's secret: not for the browser's cache or the back button
@require_http_methods(["GET", "POST"])
def tokens(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The user's active tokens in the current workspace, and a form to create one.

    A new token's secret is kept in the session just long enough to be shown once,
    on the page the creation redirects to.
    """
    workspace = workspaces.current_workspace(request)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        expires_at = workspaces.expiry_in(data["expires_in_days"])
        token, key = ApiToken.issue(request.user, workspace, data["name"], data["abilities"], expires_at=expires_at)
        request.session[NEW_TOKEN_SESSION_KEY] = {"id": token.pk, "name": token.name, "key": key}
        messages.success(request, f"Token {token.name} created.")
        return redirect("accounts_web:tokens")
    context = {
        "workspace": workspace,
        "tokens": request.user.api_tokens.active().filter(workspace=workspace),
        "form": form,
        "new_token": request.session.pop(NEW_TOKEN_SESSION_KEY, None) if request.method == "GET" else None,
        "ability_labels": dict(Ability.choices),
    }
    return render(request, "accounts/tokens.html", context)


@login_required
@require_POST
def token_revoke(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Revoke one of the user's active tokens in the current workspace; 404 for any other token."""
    workspace = workspaces.current_workspace(request)
    token = get_object_or_404(request.user.api_tokens.active(), pk=pk, workspace=workspace)
    token.revoke()
    messages.success(request, f"Token {token.name} revoked.")
    return redirect("accounts_web:tokens")


# --- The account ------------------------------------------------------------------------------------------


@login_required
@require_GET
def account(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The account: email, password, workspaces and the way out."""
    memberships = request.user.memberships.select_related("workspace")
    memberships = memberships.order_by("-workspace__personal", "workspace__name")
    return render(request, "accounts/account.html", {"memberships": memberships})


@login_required
@require_http_methods(["GET", "POST"])
def account_delete(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Delete the account, confirmed with the password, and every workspace it owns."""
    user: User = request.user
    form = DeleteAccountForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        logout(request)
        workspaces.delete_account(user)
        messages.success(request, "Your account and the workspaces you owned have been deleted.")
        return redirect("account_login")
    owned = user.owned_workspaces()
    context = {
        "form": form,
        "owned": [
            {"workspace": w, "images": w.images.count(), "others": w.memberships.exclude(user=user).count()}
            for w in owned
        ],
        "elsewhere": user.memberships.exclude(workspace__in=owned).select_related("workspace"),
    }
    return render(request, "accounts/account_delete.html", context)
