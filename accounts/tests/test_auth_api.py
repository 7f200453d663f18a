"""The auth API: register, verify by the emailed link, log in, log out, revoke all, profile."""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiToken, User
from upscaler_site.testing import make_user

pytestmark = pytest.mark.django_db

REGISTER = {
    "name": "Grace Hopper",
    "email": "Grace@Example.com",
    "password": "Cobol-1959",
    "password_confirmation": "Cobol-1959",
    "device_name": "laptop",
}


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def verification_link(mail) -> str:
    match = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mail.body)
    assert match, mail.body
    return match.group(0)


def test_register_verify_login_flow(client, mailoutbox):
    response = APIClient().post("/api/auth/register", REGISTER)
    assert response.status_code == 201, response.json()
    data = response.json()["data"]
    assert data["token_type"] == "Bearer"
    assert data["user"]["email"] == "grace@example.com"
    assert data["user"]["email_verified"] is False
    assert data["user"]["workspace"]["personal"] is True
    assert data["user"]["workspace"]["role"] == "owner"
    unverified = bearer(data["token"])

    # Before verification the token reads the profile and nothing else; login is refused.
    assert unverified.get("/api/user").status_code == 200
    denied = unverified.get("/api/images")
    assert denied.status_code == 403 and "Verify your email" in denied.json()["message"]
    login = APIClient().post("/api/auth/login", {"email": "grace@example.com", "password": "Cobol-1959"})
    assert login.status_code == 403 and "Verify your email" in login.json()["message"]

    # Follow the real link from the email, as a person would.
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["grace@example.com"]
    link = verification_link(mailoutbox[0])
    assert client.get(link).status_code == 200
    assert client.post(link).status_code == 302

    assert unverified.get("/api/images").status_code == 200
    login = APIClient().post("/api/auth/login", {"email": "GRACE@example.com", "password": "Cobol-1959"})
    assert login.status_code == 200, login.json()
    body = login.json()["data"]
    assert body["token_type"] == "Bearer" and body["token"].startswith("ups_")
    assert bearer(body["token"]).get("/api/images").status_code == 200


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"password": "Short-1", "password_confirmation": "Short-1"}, "password", "too short"),
        ({"password": "lowercase-only-1", "password_confirmation": "lowercase-only-1"}, "password", "upper"),
        ({"password": "No-Digits-Here", "password_confirmation": "No-Digits-Here"}, "password", "number"),
        ({"password_confirmation": "Cobol-1960"}, "password_confirmation", "do not match"),
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"name": ""}, "name", "The name field is required."),
        ({"name": "x" * 256}, "name", "The name must not be longer than 255 characters."),
        ({"email": ""}, "email", "The email field is required."),
    ],
)
def test_register_validation(changes, field, message):
    response = APIClient().post("/api/auth/register", {**REGISTER, **changes})
    assert response.status_code == 422
    assert message in " ".join(response.json()["errors"][field])
    assert not User.objects.exists()


def test_register_with_a_taken_email_is_422(user):
    response = APIClient().post("/api/auth/register", {**REGISTER, "email": "ADA@example.com"})
    assert response.status_code == 422
    assert "already exists" in response.json()["errors"]["email"][0]


@pytest.mark.parametrize(
    "credentials",
    [
        {"email": "ada@example.com", "password": "Wrong-pass-1"},
        {"email": "nobody@example.com", "password": "Secret-pass-1"},
    ],
)
def test_wrong_credentials_are_401_and_say_nothing_specific(user, credentials):
    response = APIClient().post("/api/auth/login", credentials)
    assert response.status_code == 401
    assert response.json()["message"] == "These credentials do not match our records."


def test_login_into_another_workspace_needs_membership(user, other_user):
    bobs = other_user.personal_workspace
    response = APIClient().post(
        "/api/auth/login", {"email": "ada@example.com", "password": "Secret-pass-1", "workspace": bobs.pk}
    )
    assert response.status_code == 403


def test_deactivated_user_cannot_log_in_or_use_tokens(user):
    key = ApiToken.issue(user, user.personal_workspace, "t")[1]
    user.is_active = False
    user.save()
    assert (
        APIClient().post("/api/auth/login", {"email": "ada@example.com", "password": "Secret-pass-1"}).status_code
        == 401
    )
    assert bearer(key).get("/api/user").status_code == 401


def test_logout_revokes_only_the_current_token(user):
    first = ApiToken.issue(user, user.personal_workspace, "one")[1]
    second = ApiToken.issue(user, user.personal_workspace, "two")[1]
    assert bearer(first).post("/api/auth/logout").status_code == 200
    assert bearer(first).get("/api/user").status_code == 401
    assert bearer(second).get("/api/user").status_code == 200


def test_revoke_all_revokes_every_token_of_the_user(user, other_user):
    keys = [ApiToken.issue(user, user.personal_workspace, str(i))[1] for i in range(3)]
    bobs = ApiToken.issue(other_user, other_user.personal_workspace, "bob")[1]
    response = bearer(keys[0]).post("/api/auth/revoke-all")
    assert response.json()["data"] == {"revoked": 3}
    assert all(bearer(k).get("/api/user").status_code == 401 for k in keys)
    assert bearer(bobs).get("/api/user").status_code == 200


def test_profile(user):
    key = ApiToken.issue(user, user.personal_workspace, "t")[1]
    data = bearer(key).get("/api/user").json()["data"]
    assert data["email"] == "ada@example.com" and data["name"] == "Ada"
    assert data["email_verified"] is True
    assert data["workspace"]["id"] == user.personal_workspace.pk
    assert [w["role"] for w in data["workspaces"]] == ["owner"]
    assert "plan" in data


def test_unverified_user_from_the_admin_can_read_profile_only():
    person = make_user("new@example.com", verified=False)
    key = ApiToken.issue(person, person.personal_workspace, "t")[1]
    assert bearer(key).get("/api/user").status_code == 200
    assert bearer(key).get("/api/user/tokens").status_code == 403
