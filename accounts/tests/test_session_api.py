"""The dashboard's own API calls: session authentication with CSRF, on the session's workspace.

Uploads from the dashboard go through the same endpoints as customers' programs,
authenticated by the login session instead of a token (accounts.authentication.
SessionWorkspaceAuthentication); they count against the workspace's hourly limit.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import Workspace
from billing.models import Plan
from images.models import Image
from upscaler_site.testing import client_for, encode, photo

pytestmark = pytest.mark.django_db

UPLOAD = "/api/images/upscale"


def session(user) -> APIClient:
    """A signed-in browser that, like a real one, has to send the CSRF token with unsafe requests."""
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(user)
    browser.get(reverse("images_web:upload"))  # the page sets the CSRF cookie
    return browser


def csrf(browser: APIClient) -> dict[str, str]:
    return {"HTTP_X_CSRFTOKEN": browser.cookies["csrftoken"].value}


def upload(browser: APIClient, **headers):
    return browser.post(UPLOAD, {"image": encode(photo(size=(40, 30))), "scale_factor": "2"}, **headers)


def test_the_session_uploads_with_the_csrf_token(user, workspace):
    browser = session(user)
    response = upload(browser, **csrf(browser))
    assert response.status_code == 202, response.json()
    image = Image.objects.get(pk=response.json()["data"]["id"])
    assert image.workspace == workspace and image.created_by == user
    assert response["X-RateLimit-Limit"] == "1000" and response["X-RateLimit-Remaining"] == "999"


def test_without_the_csrf_token_the_session_is_refused_and_nothing_is_stored(user, media_root):
    response = upload(session(user))
    assert response.status_code == 403
    assert "CSRF" in response.json()["message"]
    assert not Image.objects.exists()


def test_without_session_or_token_it_is_still_401_bearer():
    response = APIClient().post(UPLOAD, {"image": encode(photo(size=(40, 30)))})
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_reads_need_no_csrf_token_and_see_the_current_workspace_only(user):
    team = Workspace.create_for(user, "Team")
    browser = session(user)
    mine = upload(browser, **csrf(browser)).json()["data"]["id"]
    assert [i["id"] for i in browser.get("/api/images").json()["data"]] == [mine]

    browser.post(reverse("accounts_web:workspace_switch"), {"workspace": team.pk}, **csrf(browser))
    assert browser.get("/api/images").json()["data"] == []
    assert browser.get(f"/api/images/{mine}").status_code == 404
    in_team = upload(browser, **csrf(browser)).json()["data"]["id"]
    assert Image.objects.get(pk=in_team).workspace == team


def test_the_session_deletes_with_csrf(user):
    browser = session(user)
    image_id = upload(browser, **csrf(browser)).json()["data"]["id"]
    assert browser.delete(f"/api/images/{image_id}").status_code == 403
    assert browser.delete(f"/api/images/{image_id}", **csrf(browser)).status_code == 200
    assert not Image.objects.filter(pk=image_id).exists()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/user/tokens"),
        ("get", "/api/user/tokens"),
        ("post", "/api/auth/logout"),
        ("post", "/api/auth/revoke-all"),
        ("get", "/api/user"),
    ],
)
def test_endpoints_about_the_token_itself_need_a_token(user, method, path):
    browser = session(user)
    response = getattr(browser, method)(path, **csrf(browser))
    assert response.status_code == 403
    assert "needs an API token" in response.json()["message"]
    assert user.api_tokens.count() == 0


def test_a_bearer_token_wins_over_the_session(user, other_user):
    browser = session(user)
    bob = client_for(other_user)
    browser.credentials(HTTP_AUTHORIZATION=f"Bearer {bob.token_key}")
    response = upload(browser)  # no CSRF needed: the token authenticates
    assert response.status_code == 202
    assert Image.objects.get().workspace == other_user.personal_workspace


def test_the_session_counts_against_the_workspaces_hourly_limit_not_the_anonymous_one(user, settings):
    settings.ANON_REQUESTS_PER_HOUR = 2
    Plan.objects.filter(slug="enterprise").update(requests_per_hour=4)
    browser = Client()
    browser.force_login(user)
    codes = [browser.get("/api/images").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 200, 429]
    # The same workspace's token shares the count.
    assert client_for(user).get("/api/images").status_code == 429
    # Anonymous requests from the same address have their own count.
    assert Client().get("/api/images").status_code == 401


def test_batches_through_the_session(user, other_user):
    browser = session(user)
    files = [encode(photo(crop=(10 * i, 0, 10 * i + 40, 30)), "PNG", f"p{i}.png") for i in range(2)]
    response = browser.post("/api/batches", {"images": files, "scale_factor": "2", "name": "two"}, **csrf(browser))
    assert response.status_code == 202, response.json()
    assert response.json()["data"]["total_images"] == 2

    free = session(other_user)  # Free has no batches
    response = free.post("/api/batches", {"images": [encode(photo(size=(40, 30)))]}, **csrf(free))
    assert response.status_code == 403
    assert "does not include batches" in response.json()["message"]
