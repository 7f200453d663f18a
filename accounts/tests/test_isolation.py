"""The tenancy matrix: every endpoint with every kind of wrong credential.

Ada owns an image and a token in her personal workspace. Each request below is
made with a token that must not reach them; the test asserts the exact status
code and that nothing of Ada's changed (records, statuses, files, tokens).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ALL_ABILITIES, ApiToken, Workspace
from images.models import Image
from images.tests.factories import make_image
from upscaler_site.testing import encode, photo

pytestmark = pytest.mark.django_db


ENDPOINTS = {
    # name: (method, path, ability the endpoint needs or None)
    "list images": ("get", "/api/images", "images:read"),
    "upload": ("post", "/api/images/upscale", "images:write"),
    "show image": ("get", "/api/images/{image}", "images:read"),
    "download": ("get", "/api/images/{image}/download", "images:read"),
    "delete image": ("delete", "/api/images/{image}", "images:delete"),
    "profile": ("get", "/api/user", "user:read"),
    "list tokens": ("get", "/api/user/tokens", "user:read"),
    "create token": ("post", "/api/user/tokens", "tokens:write"),
    "revoke token": ("delete", "/api/user/tokens/{token}", "tokens:write"),
    "logout": ("post", "/api/auth/logout", None),
    "revoke all": ("post", "/api/auth/revoke-all", None),
}

# What a valid token of *another workspace* gets: its own (empty) collections, and
# 404 for Ada's objects, never 403, so that ids do not leak.
OTHER_WORKSPACE = {
    "list images": 200,
    "upload": 202,
    "show image": 404,
    "download": 404,
    "delete image": 404,
    "profile": 200,
    "list tokens": 200,
    "create token": 201,
    "revoke token": 404,
    "logout": 200,
    "revoke all": 200,
}


@pytest.fixture
def ada(user):
    image = make_image(user, status=Image.Status.COMPLETED)
    token, _ = ApiToken.issue(user, user.personal_workspace, "ada's laptop")
    return {"user": user, "image": image, "token": token}


def snapshot(ada) -> dict:
    image = Image.objects.filter(pk=ada["image"].pk).values("status", "original", "upscaled").first()
    storage = ada["image"].original.storage
    files = [storage.exists(ada["image"].original.name), storage.exists(ada["image"].upscaled.name)]
    tokens = sorted(ApiToken.objects.filter(user=ada["user"]).values_list("pk", "revoked_at", "name"))
    return {
        "image": image,
        "files": files,
        "tokens": tokens,
        "images": Image.objects.filter(workspace=ada["user"].personal_workspace).count(),
    }


def credential(kind: str, ada, other_user) -> str | None:
    user = ada["user"]
    if kind == "none":
        return None
    if kind == "revoked":
        token, key = ApiToken.issue(user, user.personal_workspace, "revoked")
        token.revoke()
        return key
    if kind == "expired":
        past = timezone.now() - timedelta(minutes=1)
        return ApiToken.issue(user, user.personal_workspace, "expired", expires_at=past)[1]
    if kind == "another user's workspace":
        return ApiToken.issue(other_user, other_user.personal_workspace, "bob")[1]
    if kind == "same user, another workspace":
        team = Workspace.create_for(user, "Ada's team")
        return ApiToken.issue(user, team, "team")[1]
    raise AssertionError(kind)


def call(client: APIClient, endpoint: str, ada):
    method, path, _ = ENDPOINTS[endpoint]
    path = path.format(image=ada["image"].pk, token=ada["token"].pk)
    data: dict[str, object] | None = None
    if endpoint == "upload":
        data = {"image": encode(photo(size=(40, 30)))}
    elif endpoint == "create token":
        data = {"name": "intruder"}
    return getattr(client, method)(path, data)


def client_with(key: str | None) -> APIClient:
    client = APIClient()
    if key:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize("kind", ["none", "revoked", "expired"])
def test_missing_revoked_or_expired_token_is_401(ada, other_user, endpoint, kind):
    key = credential(kind, ada, other_user)
    before = snapshot(ada)
    response = call(client_with(key), endpoint, ada)
    assert response.status_code == 401, response.content
    assert response.json()["success"] is False
    assert snapshot(ada) == before


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_another_users_workspace_never_reaches_adas_objects(ada, other_user, endpoint):
    key = credential("another user's workspace", ada, other_user)
    before = snapshot(ada)
    response = call(client_with(key), endpoint, ada)

    assert response.status_code == OTHER_WORKSPACE[endpoint], response.content
    body = response.json()
    if endpoint == "list images":
        assert body["data"] == []
    if endpoint == "list tokens":
        assert ada["token"].pk not in [t["id"] for t in body["data"]["tokens"]]
    if OTHER_WORKSPACE[endpoint] == 404:
        assert body["message"] == "Not found."
    assert snapshot(ada) == before


IMAGE_ENDPOINTS = ["list images", "upload", "show image", "download", "delete image"]


@pytest.mark.parametrize("endpoint", IMAGE_ENDPOINTS)
def test_adas_token_for_another_workspace_does_not_reach_her_personal_images(ada, other_user, endpoint):
    """Images belong to workspaces, not users: Ada's team token cannot see her personal images.

    (Tokens themselves belong to the user, so the token endpoints are user-scoped by design.)
    """
    key = credential("same user, another workspace", ada, other_user)
    before = snapshot(ada)
    response = call(client_with(key), endpoint, ada)
    assert response.status_code == OTHER_WORKSPACE[endpoint], response.content
    if endpoint == "list images":
        assert response.json()["data"] == []
    assert snapshot(ada) == before


@pytest.mark.parametrize("endpoint", [e for e, (_, _, ability) in ENDPOINTS.items() if ability])
def test_a_token_lacking_the_ability_is_403(ada, endpoint):
    ability = ENDPOINTS[endpoint][2]
    others = [a for a in ALL_ABILITIES if a != ability]
    key = ApiToken.issue(ada["user"], ada["user"].personal_workspace, "narrow", others)[1]
    before = snapshot(ada)
    response = call(client_with(key), endpoint, ada)
    assert response.status_code == 403, response.content
    assert response.json()["message"] == f"This token lacks the {ability} ability."
    assert snapshot(ada) == before
