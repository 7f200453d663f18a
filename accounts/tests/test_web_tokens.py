"""The API tokens page: create (secret shown once), list, revoke; the tokens work against the API."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Ability, ApiToken, Membership, Workspace
from upscaler_site.testing import encode, photo

pytestmark = pytest.mark.django_db

TOKENS = "/tokens"


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client


def bearer(key: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return api


def shown_secrets(html: str) -> list[str]:
    return re.findall(r"ups_[A-Za-z0-9_-]{20,}", html)


def test_tokens_page_requires_login(client):
    response = client.get(TOKENS)
    assert response.status_code == 302 and response.url.startswith(reverse("account_login"))


def test_read_only_token_shown_once_reads_but_cannot_upload_and_dies_when_revoked(browser, user, workspace):
    response = browser.post(TOKENS, {"name": "ci", "abilities": [Ability.IMAGES_READ]})
    assert response.status_code == 302 and response.url == TOKENS

    page = browser.get(TOKENS).content.decode()
    secrets = shown_secrets(page)
    assert len(secrets) == 1
    key = secrets[0]
    assert "it will not be shown again" in page

    token = ApiToken.objects.get(user=user, name="ci")
    assert token.workspace == workspace
    assert token.abilities == ["images:read"]
    assert token.expires_at is None
    assert key.startswith(token.prefix) and token.key_hash != key  # stored hashed

    # Listed by prefix; the secret is never shown again.
    again = browser.get(TOKENS).content.decode()
    assert shown_secrets(again) == []
    assert f"{token.prefix}…" in again and "images:read" in again

    api = bearer(key)
    assert api.get("/api/images").status_code == 200
    upload = api.post("/api/images/upscale", {"image": encode(photo(size=(40, 30)))}, format="multipart")
    assert upload.status_code == 403
    assert "images:write" in upload.json()["message"]

    response = browser.post(reverse("accounts_web:token_revoke", args=[token.pk]))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert api.get("/api/images").status_code == 401
    assert f"{token.prefix}…" not in browser.get(TOKENS).content.decode()


def test_expiry_in_days(browser, user):
    abilities = [Ability.IMAGES_READ, Ability.IMAGES_WRITE]
    browser.post(TOKENS, {"name": "temp", "abilities": abilities, "expires_in_days": "30"})
    token = ApiToken.objects.get(user=user, name="temp")
    assert token.abilities == ["images:read", "images:write"]
    assert abs(token.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"name": "x"}, "Choose at least one ability."),
        ({"name": "", "abilities": ["images:read"]}, "This field is required."),
        ({"name": "x", "abilities": ["admin:everything"]}, "Select a valid choice."),
        ({"name": "x", "abilities": ["images:read"], "expires_in_days": "0"}, "greater than or equal to 1"),
    ],
    ids=["no-ability", "no-name", "unknown-ability", "zero-days"],
)
def test_invalid_forms_create_nothing(browser, user, data, error):
    response = browser.post(TOKENS, data)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not user.api_tokens.exists()
    assert shown_secrets(response.content.decode()) == []


def test_lists_only_the_users_active_tokens_of_the_current_workspace(browser, user, other_user, workspace):
    mine, _ = ApiToken.issue(user, workspace, "mine")
    revoked, _ = ApiToken.issue(user, workspace, "old")
    revoked.revoke()
    expired, _ = ApiToken.issue(user, workspace, "stale", expires_at=timezone.now() - timedelta(days=1))
    team = Workspace.create_for(user, "Team")
    elsewhere, _ = ApiToken.issue(user, team, "team-token")
    theirs, _ = ApiToken.issue(other_user, other_user.personal_workspace, "bobs")

    listed = list(browser.get(TOKENS).context["tokens"])
    assert listed == [mine]

    browser.post(reverse("accounts_web:workspace_switch"), {"workspace": team.pk})
    assert list(browser.get(TOKENS).context["tokens"]) == [elsewhere]
    assert {expired.pk, theirs.pk}.isdisjoint(t.pk for t in browser.get(TOKENS).context["tokens"])


def test_tokens_of_other_users_or_workspaces_cannot_be_revoked(browser, user, other_user, workspace):
    theirs, _ = ApiToken.issue(other_user, other_user.personal_workspace, "bobs")
    # Bob's token in a workspace Ada belongs to is still Bob's.
    Membership.objects.create(workspace=workspace, user=other_user)
    bobs_here, _ = ApiToken.issue(other_user, workspace, "bobs-here")
    team = Workspace.create_for(user, "Team")
    other_workspace, _ = ApiToken.issue(user, team, "team-token")  # Ada's, but not in the current workspace

    for token in (theirs, bobs_here, other_workspace):
        assert browser.post(reverse("accounts_web:token_revoke", args=[token.pk])).status_code == 404
        token.refresh_from_db()
        assert token.revoked_at is None


def test_revoke_is_post_only(browser, user, workspace):
    token, _ = ApiToken.issue(user, workspace, "mine")
    assert browser.get(reverse("accounts_web:token_revoke", args=[token.pk])).status_code == 405
    token.refresh_from_db()
    assert token.is_active


def test_a_new_token_acts_on_the_current_workspace(browser, user):
    team = Workspace.create_for(user, "Team")
    browser.post(reverse("accounts_web:workspace_switch"), {"workspace": team.pk})
    browser.post(TOKENS, {"name": "team", "abilities": [Ability.IMAGES_READ, Ability.USER_READ]})
    key = shown_secrets(browser.get(TOKENS).content.decode())[0]
    assert bearer(key).get("/api/user").json()["data"]["workspace"]["id"] == team.pk
