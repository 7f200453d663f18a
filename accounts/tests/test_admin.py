"""The staff back office: users, workspaces, members and tokens, never a token's secret."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiToken, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    admin = User.objects.create_superuser("staff@example.com", "Staff-pass-1")
    client.force_login(admin)
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/admin/accounts/user/?q=ada",
        "/admin/accounts/user/?is_active__exact=1",
        "/admin/accounts/workspace/?q=ada",
        "/admin/accounts/membership/?role__exact=owner",
        "/admin/accounts/invitation/",
        "/admin/accounts/apitoken/?q=laptop",
        "/admin/images/image/?status__exact=pending",
    ],
)
def test_changelists_with_search_and_filters(staff, user, url):
    ApiToken.issue(user, user.personal_workspace, "laptop")
    response = staff.get(url)
    assert response.status_code == 200


def test_workspace_page_lists_its_members(staff, user):
    response = staff.get(f"/admin/accounts/workspace/{user.personal_workspace.pk}/change/")
    assert response.status_code == 200
    assert b"ada@example.com" in response.content


def test_the_token_secret_and_hash_are_never_shown(staff, user):
    token, key = ApiToken.issue(user, user.personal_workspace, "laptop")
    for url in ("/admin/accounts/apitoken/", f"/admin/accounts/apitoken/{token.pk}/change/"):
        page = staff.get(url).content.decode()
        assert token.prefix in page
        assert key not in page and token.key_hash not in page
    assert staff.get("/admin/accounts/apitoken/add/").status_code == 403


def test_staff_revoke_a_token(staff, user):
    token, key = ApiToken.issue(user, user.personal_workspace, "laptop")
    staff.post("/admin/accounts/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get("/api/user").status_code == 401


def test_staff_deactivate_a_user(staff, user):
    _, key = ApiToken.issue(user, user.personal_workspace, "laptop")
    staff.post("/admin/accounts/user/", {"action": "deactivate", "_selected_action": [user.pk]})
    user.refresh_from_db()
    assert user.is_active is False
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get("/api/user").status_code == 401


def test_deleting_a_user_in_the_admin_takes_their_workspaces_along(staff, user, django_capture_on_commit_callbacks):
    from accounts.models import Workspace
    from images.tests.factories import make_image

    image = make_image(user, status="completed")
    storage, names = image.original.storage, [image.original.name, image.upscaled.name]
    workspace_id = user.personal_workspace.pk
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(f"/admin/accounts/user/{user.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Workspace.objects.filter(pk=workspace_id).exists()
    assert not any(storage.exists(n) for n in names)
