"""Tokens: hashed storage, abilities, expiry, last use, listing, creating and revoking over the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken, hash_token
from upscaler_site.testing import client_for, encode, photo

pytestmark = pytest.mark.django_db


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_tokens_are_stored_hashed_with_a_display_prefix(user):
    token, key = ApiToken.issue(user, user.personal_workspace, "ci")
    token.refresh_from_db()
    assert key.startswith("ups_") and len(key) > 40
    assert token.key_hash == hash_token(key) and key not in token.key_hash
    assert token.prefix == key[:12]
    assert key not in str(ApiToken.objects.filter(pk=token.pk).values().get())


@pytest.mark.parametrize(
    ("scheme", "status"), [("Bearer", 200), ("bearer", 200), ("Token", 200), ("token", 200), ("Basic", 401)]
)
def test_a_token_works_under_the_bearer_and_the_token_scheme(user, scheme, status):
    _, key = ApiToken.issue(user, user.personal_workspace, "ci")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {key}")
    response = client.get("/api/images")
    assert response.status_code == status
    assert status == 200 or response["WWW-Authenticate"] == "Bearer"


def test_create_a_read_only_token_and_use_it(api, user):
    response = api.post("/api/user/tokens", {"name": "reporting", "abilities": ["images:read"]}, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()["data"]
    assert data["abilities"] == ["images:read"] and data["prefix"] == data["token"][:12]
    read_only = bearer(data["token"])

    assert read_only.get("/api/images").status_code == 200
    upload = read_only.post("/api/images/upscale", {"image": encode(photo(size=(40, 30)))})
    assert upload.status_code == 403
    assert upload.json()["message"] == "This token lacks the images:write ability."
    assert read_only.get("/api/user").status_code == 403


def test_a_token_cannot_grant_more_than_it_has(user):
    read_only = client_for(user, abilities=["images:read", "user:read", "tokens:write"])
    response = read_only.post("/api/user/tokens", {"name": "x", "abilities": ["images:delete"]}, format="json")
    assert response.status_code == 422
    assert "cannot grant" in response.json()["errors"]["abilities"][0]


def test_token_creation_validation(api):
    past = (timezone.now() - timedelta(days=1)).isoformat()
    response = api.post("/api/user/tokens", {"name": "x", "abilities": ["root"], "expires_at": past}, format="json")
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"abilities.0", "expires_at"}


def test_list_tokens_shows_no_secret(api, user):
    api.post("/api/user/tokens", {"name": "second"}, format="json")
    body = api.get("/api/user/tokens").json()["data"]
    assert body["count"] == 2
    assert {t["name"] for t in body["tokens"]} == {"test", "second"}
    assert set(body["tokens"][0]) == {"id", "name", "prefix", "workspace", "abilities", "last_used_at",
                                      "expires_at", "created_at"}  # fmt: skip


def test_last_used_at_is_recorded(user):
    token, key = ApiToken.issue(user, user.personal_workspace, "t")
    assert token.last_used_at is None
    bearer(key).get("/api/user")
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_expired_token_is_401(user):
    _, key = ApiToken.issue(user, user.personal_workspace, "t", expires_at=timezone.now() - timedelta(seconds=1))
    response = bearer(key).get("/api/user")
    assert response.status_code == 401
    assert response.json()["message"] == "The token has expired."


def test_revoke_a_token_by_id(api, user):
    other, key = ApiToken.issue(user, user.personal_workspace, "old")
    assert api.delete(f"/api/user/tokens/{other.pk}").status_code == 200
    assert bearer(key).get("/api/user").status_code == 401
    assert api.delete(f"/api/user/tokens/{other.pk}").status_code == 404


def test_another_users_token_cannot_be_revoked(api, other_user):
    theirs, key = ApiToken.issue(other_user, other_user.personal_workspace, "theirs")
    assert api.delete(f"/api/user/tokens/{theirs.pk}").status_code == 404
    assert bearer(key).get("/api/user").status_code == 200


def test_a_member_removed_from_a_workspace_loses_its_tokens(user, other_user):
    team = user.personal_workspace
    team.memberships.create(user=other_user, role="member")
    key = ApiToken.issue(other_user, team, "team")[1]
    assert bearer(key).get("/api/images").status_code == 200
    team.remove_member(other_user)
    assert bearer(key).get("/api/images").status_code == 401


def test_a_token_that_expires_cannot_mint_one_that_does_not(user):
    soon = timezone.now() + timedelta(minutes=5)
    expiring = client_for(user, expires_at=soon)
    response = expiring.post("/api/user/tokens", {"name": "forever"}, format="json")
    assert response.status_code == 201
    assert response.json()["data"]["expires_at"] is not None
    later = (soon + timedelta(days=1)).isoformat()
    response = expiring.post("/api/user/tokens", {"name": "later", "expires_at": later}, format="json")
    assert response.status_code == 422
    assert "outlive" in response.json()["errors"]["expires_at"][0]


def test_login_is_throttled_per_ip(user):
    # Different accounts, so that the per-account limit (accounts.logins) does not come first.
    codes = [
        APIClient().post("/api/auth/login", {"email": f"nobody{n}@example.com", "password": "Wrong-1a"}).status_code
        for n in range(11)
    ]
    assert codes == [401] * 10 + [429]  # anonymous requests: 10 per hour per IP
