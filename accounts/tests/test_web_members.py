"""Workspaces on the web: the switcher, creating one, members, roles, invitations by email."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from accounts.models import Invitation, Membership, Workspace
from accounts.workspaces import SESSION_KEY, workspace_context
from upscaler_site.testing import client_for, make_user

pytestmark = pytest.mark.django_db

MEMBERS = "/workspace/members"
INVITE = "/workspace/members/invite"
Role = Membership.Role


def browser_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def team(user) -> Workspace:
    """A shared workspace owned by Ada."""
    return Workspace.create_for(user, "Team")


@pytest.fixture
def owner(user, team) -> Client:
    """Ada's browser, working in Team."""
    client = browser_for(user)
    client.post(reverse("accounts_web:workspace_switch"), {"workspace": team.pk})
    return client


def join(client: Client, workspace: Workspace) -> None:
    client.post(reverse("accounts_web:workspace_switch"), {"workspace": workspace.pk})


def accept_path(message) -> str:
    match = re.search(r"https?://testserver(/invitations/[\w-]+)", message.body)
    assert match, message.body
    return match.group(1)


def remove_path(user) -> str:
    return reverse("accounts_web:workspace_member_remove", args=[user.pk])


def role_post(client: Client, user, role: str):
    return client.post(reverse("accounts_web:workspace_member_role", args=[user.pk]), {f"m{user.pk}-role": role})


# --- Current workspace and switcher ----------------------------------------------------------------


def test_current_workspace_defaults_to_the_personal_one(client, user, workspace):
    client.force_login(user)
    page = client.get(reverse("images_web:dashboard"))
    assert page.context["workspace"] == workspace
    assert client.session[SESSION_KEY] == workspace.pk


def test_switcher_lists_the_users_workspaces(owner, user, team, workspace, other_user):
    html = owner.get(reverse("images_web:dashboard")).content.decode()
    assert 'action="/workspaces/switch"' in html
    assert f'<option value="{team.pk}" selected>Team</option>' in html
    assert f'<option value="{workspace.pk}">' in html
    assert f'value="{other_user.personal_workspace.pk}"' not in html


def test_switching_to_someone_elses_workspace_is_404(owner, other_user, team):
    response = owner.post(reverse("accounts_web:workspace_switch"), {"workspace": other_user.personal_workspace.pk})
    assert response.status_code == 404
    assert owner.post(reverse("accounts_web:workspace_switch"), {"workspace": "nonsense"}).status_code == 404
    assert owner.session[SESSION_KEY] == team.pk


def test_switch_goes_back_to_a_local_page_only(client, user, team):
    client.force_login(user)
    response = client.post(reverse("accounts_web:workspace_switch"), {"workspace": team.pk, "next": "/tokens"})
    assert response.url == "/tokens"
    response = client.post(
        reverse("accounts_web:workspace_switch"), {"workspace": team.pk, "next": "https://evil.example/"}
    )
    assert response.url == reverse("images_web:dashboard")


def test_create_a_workspace(client, user):
    client.force_login(user)
    assert client.get(reverse("accounts_web:workspace_create")).status_code == 200
    response = client.post(reverse("accounts_web:workspace_create"), {"name": "  Studio  "})
    assert response.status_code == 302
    studio = Workspace.objects.get(name="Studio")
    assert not studio.personal and studio.owner == user
    assert client.session[SESSION_KEY] == studio.pk
    assert client.post(reverse("accounts_web:workspace_create"), {"name": ""}).status_code == 200
    assert Workspace.objects.filter(name="").count() == 0


def test_a_stale_session_workspace_falls_back_to_the_personal_one(owner, user, team, workspace):
    team.delete()
    assert owner.get(reverse("images_web:dashboard")).context["workspace"] == workspace
    assert owner.session[SESSION_KEY] == workspace.pk


def test_context_processor(user, workspace, team):
    request = RequestFactory().get("/")
    request.user = user
    request.session = {}
    context = workspace_context(request)
    assert context["current_workspace"] == workspace
    assert {w.pk for w in context["user_workspaces"]} == {workspace.pk, team.pk}
    assert context["current_role"] == "owner"


def test_context_processor_for_visitors():
    from django.contrib.auth.models import AnonymousUser

    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    request.session = {}
    assert workspace_context(request) == {"current_workspace": None, "user_workspaces": [], "current_role": None}


# --- Invitations ---------------------------------------------------------------------------------------


def test_invite_by_email_then_accept_as_the_invited_user(owner, team, other_user, mailoutbox):
    response = owner.post(INVITE, {"email": "Bob@Example.com", "role": Role.MEMBER})
    assert response.status_code == 302

    invitation = Invitation.objects.get(workspace=team)
    assert invitation.email == "bob@example.com" and invitation.role == Role.MEMBER
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["bob@example.com"]
    # The workspace's name is the inviter's text: in the body, never in the subject (issue #11 item 7).
    assert "Team" not in mailoutbox[0].subject and 'workspace "Team"' in mailoutbox[0].body
    path = accept_path(mailoutbox[0])
    assert path == f"/invitations/{invitation.key}"

    # Pending, with a cancel button, on the members page.
    page = owner.get(MEMBERS).content.decode()
    assert "bob@example.com" in page and reverse("accounts_web:invitation_cancel", args=[invitation.pk]) in page

    bob = browser_for(other_user)
    page = bob.get(path)
    assert page.status_code == 200
    assert "Join Team" in page.content.decode()
    assert not Membership.objects.filter(workspace=team, user=other_user).exists()  # a GET joins nothing

    response = bob.post(path)
    assert response.status_code == 302 and response.url == reverse("images_web:dashboard")
    assert Membership.objects.get(workspace=team, user=other_user).role == Role.MEMBER
    assert bob.session[SESSION_KEY] == team.pk
    assert "You joined Team as member." in bob.get(response.url).content.decode()

    invitation.refresh_from_db()
    assert invitation.accepted_at is not None
    assert b"already used" in bob.get(path).content  # single use
    assert "bob@example.com" not in owner.get(MEMBERS).context["invitations"].values_list("email", flat=True)


def test_the_accept_link_asks_a_visitor_to_log_in_then_comes_back(owner, team, other_user, mailoutbox):
    owner.post(INVITE, {"email": "bob@example.com", "role": Role.ADMIN})
    path = accept_path(mailoutbox[0])

    visitor = Client()
    response = visitor.get(path)
    assert response.status_code == 302
    assert response.url == f"{reverse('account_login')}?next={path}"

    response = visitor.post(
        reverse("account_login"), {"login": "bob@example.com", "password": "Secret-pass-1", "next": path}
    )
    assert response.status_code == 302 and response.url == path
    assert visitor.post(path).status_code == 302
    assert Membership.objects.get(workspace=team, user=other_user).role == Role.ADMIN


def test_someone_else_cannot_accept(owner, team, mailoutbox):
    owner.post(INVITE, {"email": "bob@example.com", "role": Role.MEMBER})
    path = accept_path(mailoutbox[0])
    carol = make_user("carol@example.com")
    browser = browser_for(carol)

    page = browser.get(path).content.decode()
    assert "This invitation is for bob@example.com" in page
    assert "Accept the invitation" not in page

    response = browser.post(path)
    assert response.status_code == 400
    assert "This invitation is for bob@example.com" in response.content.decode()
    assert not Membership.objects.filter(workspace=team, user=carol).exists()
    assert Invitation.objects.get(workspace=team).accepted_at is None


def test_expired_or_unknown_invitations(owner, team, other_user, mailoutbox):
    owner.post(INVITE, {"email": "bob@example.com", "role": Role.MEMBER})
    invitation = Invitation.objects.get(workspace=team)
    Invitation.objects.filter(pk=invitation.pk).update(created_at=invitation.created_at - timedelta(days=8))
    bob = browser_for(other_user)

    response = bob.post(accept_path(mailoutbox[0]))
    assert response.status_code == 400
    assert "expired" in response.content.decode()
    assert not Membership.objects.filter(workspace=team, user=other_user).exists()

    response = bob.get("/invitations/not-a-real-key")
    assert response.status_code == 404
    assert "This invitation link is not valid" in response.content.decode()


def test_cancelled_invitation_link_stops_working(owner, team, other_user, mailoutbox):
    owner.post(INVITE, {"email": "bob@example.com", "role": Role.MEMBER})
    invitation = Invitation.objects.get(workspace=team)
    assert owner.post(reverse("accounts_web:invitation_cancel", args=[invitation.pk])).status_code == 302
    invitation.refresh_from_db()
    assert invitation.cancelled_at is not None and not invitation.is_valid
    response = browser_for(other_user).post(accept_path(mailoutbox[0]))
    assert response.status_code == 400 and "This invitation was withdrawn" in response.content.decode()
    assert not Membership.objects.filter(workspace=team, user=other_user).exists()


def test_invite_validation(owner, team, other_user, mailoutbox):
    Membership.objects.create(workspace=team, user=other_user)
    response = owner.post(INVITE, {"email": "BOB@example.com", "role": Role.MEMBER})
    assert response.status_code == 400
    assert "already a member" in response.content.decode()
    assert owner.post(INVITE, {"email": "not-an-email", "role": Role.MEMBER}).status_code == 400
    assert owner.post(INVITE, {"email": "new@example.com", "role": Role.OWNER}).status_code == 400
    assert not Invitation.objects.exists() and mailoutbox == []


def test_inviting_again_resends_the_pending_invitation_at_most_hourly(owner, team, mailoutbox):
    owner.post(INVITE, {"email": "new@example.com", "role": Role.MEMBER})
    again = owner.post(INVITE, {"email": "new@example.com", "role": Role.ADMIN})
    assert again.status_code == 429 and "less than an hour ago" in again.content.decode()
    assert len(mailoutbox) == 1
    Invitation.objects.update(sent_at=timezone.now() - timedelta(hours=1, minutes=1))
    assert owner.post(INVITE, {"email": "new@example.com", "role": Role.ADMIN}).status_code == 302
    assert list(Invitation.objects.values_list("email", "role")) == [("new@example.com", "admin")]
    assert len(mailoutbox) == 2 and accept_path(mailoutbox[0]) == accept_path(mailoutbox[1])  # the same link


def test_invitations_per_workspace_and_per_user_are_limited_per_day(owner, user, team, mailoutbox):
    from accounts import workspaces

    for n in range(workspaces.INVITATIONS_PER_WORKSPACE_PER_DAY):
        assert owner.post(INVITE, {"email": f"p{n}@example.com", "role": Role.MEMBER}).status_code == 302
    refused = owner.post(INVITE, {"email": "one-more@example.com", "role": Role.MEMBER})
    assert refused.status_code == 429 and "last 24 hours" in refused.content.decode()
    # Cancelling does not give the day's invitations back.
    invitation = Invitation.objects.filter(workspace=team).first()
    owner.post(reverse("accounts_web:invitation_cancel", args=[invitation.pk]))
    assert owner.post(INVITE, {"email": "one-more@example.com", "role": Role.MEMBER}).status_code == 429
    assert len(mailoutbox) == workspaces.INVITATIONS_PER_WORKSPACE_PER_DAY

    # The same person spreading invitations over new workspaces hits the per-user limit.
    sent = workspaces.INVITATIONS_PER_WORKSPACE_PER_DAY
    while sent < workspaces.INVITATIONS_PER_USER_PER_DAY:
        workspace = Workspace.create_for(user, f"Spare {sent}")
        for n in range(
            min(workspaces.INVITATIONS_PER_WORKSPACE_PER_DAY, workspaces.INVITATIONS_PER_USER_PER_DAY - sent)
        ):
            workspaces.invite(workspace, user, f"q{sent}-{n}@example.com", Role.MEMBER)
        sent = Invitation.objects.filter(invited_by=user).count()
    with pytest.raises(workspaces.InvitationRefused, match="You have sent"):
        workspaces.invite(Workspace.create_for(user, "Fresh"), user, "last@example.com", Role.MEMBER)


def test_a_removed_members_pending_invitations_are_cancelled(user, team, other_user, mailoutbox):
    from accounts import workspaces

    Membership.objects.create(workspace=team, user=other_user, role=Role.ADMIN)
    invitation = workspaces.invite(team, other_user, "friend@example.com", Role.MEMBER)
    team.remove_member(other_user)
    invitation.refresh_from_db()
    assert invitation.cancelled_at is not None and not invitation.is_valid


def test_an_admin_invites_members_but_not_admins(user, team, other_user):
    Membership.objects.create(workspace=team, user=other_user, role=Role.ADMIN)
    admin = browser_for(other_user)
    join(admin, team)
    assert admin.post(INVITE, {"email": "new@example.com", "role": Role.ADMIN}).status_code == 400
    assert admin.post(INVITE, {"email": "new@example.com", "role": Role.MEMBER}).status_code == 302
    assert Invitation.objects.get().role == Role.MEMBER


# --- Roles and removal ---------------------------------------------------------------------------------


def test_members_page_lists_roles(owner, user, team, other_user):
    Membership.objects.create(workspace=team, user=other_user, role=Role.ADMIN)
    page = owner.get(MEMBERS)
    assert page.status_code == 200
    assert [(item["membership"].user.email, item["membership"].role) for item in page.context["members"]] == [
        ("ada@example.com", "owner"),
        ("bob@example.com", "admin"),
    ]
    assert escape("Members of Team") in page.content.decode()


def test_owner_changes_roles_but_not_to_or_from_owner(owner, user, team, other_user):
    Membership.objects.create(workspace=team, user=other_user)

    assert role_post(owner, other_user, Role.ADMIN).status_code == 302
    assert other_user.role_in(team) == Role.ADMIN
    assert role_post(owner, other_user, Role.MEMBER).status_code == 302
    assert other_user.role_in(team) == Role.MEMBER

    role_post(owner, other_user, Role.OWNER)
    assert other_user.role_in(team) == Role.MEMBER
    assert role_post(owner, user, Role.MEMBER).status_code == 403
    assert user.role_in(team) == Role.OWNER


def test_an_admin_cannot_change_roles(user, team, other_user):
    carol = make_user("carol@example.com")
    Membership.objects.create(workspace=team, user=other_user, role=Role.ADMIN)
    Membership.objects.create(workspace=team, user=carol)
    admin = browser_for(other_user)
    join(admin, team)
    assert role_post(admin, carol, Role.ADMIN).status_code == 403
    assert role_post(admin, other_user, Role.MEMBER).status_code == 403
    assert carol.role_in(team) == Role.MEMBER and other_user.role_in(team) == Role.ADMIN


def test_removed_members_token_stops_working(owner, team, other_user):
    Membership.objects.create(workspace=team, user=other_user)
    api = client_for(other_user, team)
    assert api.get("/api/images").status_code == 200
    personal_api = client_for(other_user)  # Bob's own workspace is not affected

    response = owner.post(remove_path(other_user))
    assert response.status_code == 302
    assert not Membership.objects.filter(workspace=team, user=other_user).exists()
    assert api.get("/api/images").status_code == 401
    assert personal_api.get("/api/images").status_code == 200

    # Bob's browser quietly falls back to his personal workspace.
    bob = browser_for(other_user)
    session = bob.session
    session[SESSION_KEY] = team.pk
    session.save()
    assert bob.get(reverse("images_web:dashboard")).context["workspace"] == other_user.personal_workspace
    assert bob.get(MEMBERS).status_code == 200


def test_nobody_removes_the_owner(owner, user, team):
    assert owner.post(remove_path(user)).status_code == 403
    assert user.role_in(team) == Role.OWNER


def test_an_admin_removes_members_but_not_admins_or_the_owner(user, team, other_user):
    carol, dave = make_user("carol@example.com"), make_user("dave@example.com")
    Membership.objects.create(workspace=team, user=other_user, role=Role.ADMIN)
    Membership.objects.create(workspace=team, user=carol, role=Role.ADMIN)
    Membership.objects.create(workspace=team, user=dave)
    admin = browser_for(other_user)
    join(admin, team)

    assert admin.post(remove_path(user)).status_code == 403
    assert admin.post(remove_path(carol)).status_code == 403
    assert admin.post(remove_path(dave)).status_code == 302
    remaining = set(team.members.values_list("email", flat=True))
    assert remaining == {"ada@example.com", "bob@example.com", "carol@example.com"}


def test_a_member_cannot_invite_remove_or_cancel(owner, user, team, other_user, mailoutbox):
    carol = make_user("carol@example.com")
    Membership.objects.create(workspace=team, user=other_user)
    Membership.objects.create(workspace=team, user=carol)
    owner.post(INVITE, {"email": "dave@example.com", "role": Role.MEMBER})
    invitation = Invitation.objects.get()
    member = browser_for(other_user)
    join(member, team)

    page = member.get(MEMBERS)
    assert page.status_code == 200
    assert page.context["invite_form"] is None
    assert b"Send invitation" not in page.content and b"dave@example.com" not in page.content

    assert member.post(INVITE, {"email": "eve@example.com", "role": Role.MEMBER}).status_code == 403
    assert member.post(remove_path(carol)).status_code == 403
    assert member.post(reverse("accounts_web:invitation_cancel", args=[invitation.pk])).status_code == 403
    assert role_post(member, carol, Role.ADMIN).status_code == 403
    assert list(Invitation.objects.values_list("email", flat=True)) == ["dave@example.com"]
    assert carol.role_in(team) == Role.MEMBER
    assert len(mailoutbox) == 1


def test_removing_someone_from_another_workspace_is_404(owner, other_user):
    # Bob is not in Team: nothing to remove there, and his own workspace is out of reach.
    assert owner.post(remove_path(other_user)).status_code == 404
    assert other_user.role_in(other_user.personal_workspace) == Role.OWNER
