"""The account page and account deletion (with the workspaces, images and files the user owns)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from accounts.models import ApiToken, Invitation, Membership, User, Workspace
from images.models import Image
from images.tests.factories import make_image
from upscaler_site.testing import client_for

pytestmark = pytest.mark.django_db

DELETE = "/account/delete"


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client


def stored(image: Image) -> list[Path]:
    """The files of ``image`` on disk (both must exist for a completed image made by the factory)."""
    root = Path(django_settings.MEDIA_ROOT)
    return [root / field.name for field in (image.original, image.upscaled) if field and field.name]


def test_account_page_links_to_email_password_and_deletion(browser, user):
    page = browser.get("/account")
    html = page.content.decode()
    assert page.status_code == 200
    assert user.email in html
    assert f'href="{reverse("account_email")}"' in html
    assert f'href="{reverse("account_change_password")}"' in html
    assert f'href="{DELETE}"' in html


def test_account_pages_require_login(client):
    for path in ("/account", DELETE):
        response = client.get(path)
        assert response.status_code == 302 and response.url.startswith(reverse("account_login"))


def test_password_change_page_uses_the_site_layout(browser):
    page = browser.get(reverse("account_change_password"))
    assert page.status_code == 200
    assert b"app.css" in page.content and b'href="/account"' in page.content


def test_wrong_password_deletes_nothing(browser, user, workspace):
    image = make_image(user, status=Image.Status.COMPLETED)
    response = browser.post(DELETE, {"password": "wrong"})
    assert response.status_code == 200
    assert "The password is not correct." in response.content.decode()
    assert User.objects.filter(pk=user.pk).exists()
    assert Image.objects.filter(pk=image.pk).exists()
    assert all(path.exists() for path in stored(image))


def test_deleting_the_account_deletes_owned_workspaces_images_and_files(
    browser, user, other_user, workspace, django_capture_on_commit_callbacks
):
    # Ada owns her personal workspace and Team (where Bob is a member); she is a member of Bob's.
    team = Workspace.create_for(user, "Team")
    Membership.objects.create(workspace=team, user=other_user)
    bobs = other_user.personal_workspace
    Membership.objects.create(workspace=bobs, user=user, role=Membership.Role.ADMIN)

    personal_image = make_image(workspace, status=Image.Status.COMPLETED, created_by=user)
    team_image = make_image(team, status=Image.Status.COMPLETED, created_by=other_user)
    image_in_bobs = make_image(bobs, status=Image.Status.COMPLETED, created_by=user)
    doomed_files = stored(personal_image) + stored(team_image)
    kept_files = stored(image_in_bobs)
    assert len(doomed_files) == 4 and all(path.exists() for path in doomed_files + kept_files)

    ApiToken.issue(user, workspace, "ada")
    bobs_team_api = client_for(other_user, team)
    bobs_api = client_for(other_user)
    Invitation.objects.create(workspace=team, email="carol@example.com", invited_by=user)
    Invitation.objects.create(workspace=bobs, email="dave@example.com", invited_by=user)

    page = browser.get(DELETE)
    assert page.status_code == 200
    assert {item["workspace"] for item in page.context["owned"]} == {workspace, team}
    assert "Team" in page.content.decode() and "1 other member loses access" in page.content.decode()
    assert [m.workspace for m in page.context["elsewhere"]] == [bobs]

    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(DELETE, {"password": "Secret-pass-1"})
    assert response.status_code == 302 and response.url == reverse("account_login")

    # The user, their workspaces and everything in them are gone...
    assert not User.objects.filter(pk=user.pk).exists()
    assert not Workspace.objects.filter(pk__in=[workspace.pk, team.pk]).exists()
    assert not Image.objects.filter(pk__in=[personal_image.pk, team_image.pk]).exists()
    assert not any(path.exists() for path in doomed_files)
    assert not ApiToken.objects.filter(workspace__in=[workspace.pk, team.pk]).exists()
    assert bobs_team_api.get("/api/images").status_code == 401
    assert list(Invitation.objects.values_list("email", flat=True)) == ["dave@example.com"]

    # ...while Bob's workspace keeps its image and files and loses only Ada's membership.
    assert Workspace.objects.filter(pk=bobs.pk).exists()
    assert list(bobs.members.all()) == [other_user]
    image_in_bobs.refresh_from_db()
    assert image_in_bobs.created_by is None
    assert all(path.exists() for path in kept_files)
    assert bobs_api.get("/api/images").json()["meta"]["total"] == 1

    # Logged out, with a message on the next page.
    assert "_auth_user_id" not in browser.session
    login_page = browser.get(response.url)
    assert "Your account and the workspaces you owned have been deleted." in login_page.content.decode()
    assert browser.get(reverse("images_web:dashboard")).status_code == 302
    assert not Client().login(email="ada@example.com", password="Secret-pass-1")
