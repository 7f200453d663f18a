"""API tokens do not outlive the credentials they were minted under, and each power needs its ability
(security, issue #11 items 2 and 9)."""

from __future__ import annotations

import importlib
import re
from datetime import timedelta

import pytest
from django.apps import apps
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ALL_ABILITIES, ApiToken, Workspace
from upscaler_site.testing import client_for

pytestmark = pytest.mark.django_db


def emailed_path(message, pattern: str) -> str:
    match = re.search(r"https?://[^/\s]+(" + pattern + ")", message.body)
    assert match, message.body
    return match.group(1)


def works(api: APIClient) -> bool:
    return api.get("/api/images").status_code == 200


# --- revoked with the password or the address --------------------------------------------------------


def test_a_password_change_revokes_every_token_says_so_and_mails_it(client, user, mailoutbox):
    api, other_workspace_api = client_for(user), client_for(user, Workspace.create_for(user, "Team"))
    client.force_login(user)
    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": "Secret-pass-1", "password1": "N3w-passphrase", "password2": "N3w-passphrase"},
        follow=True,
    )
    assert response.status_code == 200
    assert "Every API token of your account was revoked" in response.content.decode()
    assert not works(api) and not works(other_workspace_api)
    assert any("Every API token of your account was revoked" in mail.body for mail in mailoutbox)


def test_a_password_reset_revokes_every_token(client, user, mailoutbox):
    api = client_for(user)
    client.post(reverse("account_reset_password"), {"email": user.email})
    form_url = client.get(emailed_path(mailoutbox[0], r"/accounts/password/reset/key/[^/\s]+/")).url
    response = client.post(form_url, {"password1": "N3w-passphrase", "password2": "N3w-passphrase"})
    assert response.status_code == 302
    assert not works(api)
    assert "Every API token of your account was revoked" in mailoutbox[-1].body


def test_an_email_change_revokes_every_token_once_the_new_address_is_verified(client, user, mailoutbox):
    api = client_for(user)
    client.force_login(user)
    client.post(reverse("account_email"), {"action_add": "", "email": "ada.new@example.com"})
    assert works(api)  # nothing changed yet
    link = emailed_path(mailoutbox[0], r"/accounts/confirm-email/[^/\s]+/")
    client.post(link)
    assert not works(api)


def test_the_squatter_of_an_address_keeps_nothing_once_its_owner_resets_the_password(client, mailoutbox):
    """Someone registers victim@corp.com first; the real owner resets the password, then verifies."""
    register = {"name": "Mallory", "email": "victim@corp.example", "password": "Squat-123x",
                "password_confirmation": "Squat-123x"}  # fmt: skip
    data = APIClient().post("/api/auth/register", register).json()["data"]
    squatter = APIClient()
    squatter.credentials(HTTP_AUTHORIZATION=f"Bearer {data['token']}")
    token = ApiToken.objects.get(prefix=data["token"][:12])
    assert token.expires_at is not None
    assert timedelta(hours=23) < token.expires_at - timezone.now() <= timedelta(hours=24)

    client.post(reverse("account_reset_password"), {"email": "victim@corp.example"})
    form_url = client.get(emailed_path(mailoutbox[-1], r"/accounts/password/reset/key/[^/\s]+/")).url
    client.post(form_url, {"password1": "Owner-pass-9", "password2": "Owner-pass-9"})
    client.post(emailed_path(mailoutbox[0], r"/accounts/confirm-email/[^/\s]+/"))

    assert squatter.get("/api/user").status_code == 401
    assert squatter.get("/api/images").status_code == 401


def test_verifying_a_new_accounts_address_keeps_its_first_token(client, mailoutbox):
    register = {"name": "Grace", "email": "grace@example.com", "password": "Cobol-1959",
                "password_confirmation": "Cobol-1959"}  # fmt: skip
    data = APIClient().post("/api/auth/register", register).json()["data"]
    client.post(emailed_path(mailoutbox[0], r"/accounts/confirm-email/[^/\s]+/"))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {data['token']}")
    assert works(api)


# --- abilities ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "data", "ability"),
    [
        ("post", "/api/user/tokens", {"name": "x"}, "tokens:write"),
        ("delete", "/api/user/tokens/{token}", None, "tokens:write"),
        ("post", "/api/auth/revoke-all", None, "tokens:write"),
        ("post", "/api/billing/checkout", {"plan": "starter"}, "billing:write"),
        ("post", "/api/billing/portal", None, "billing:write"),
    ],
)
def test_each_power_needs_its_ability(user, method, path, data, ability):
    target = ApiToken.issue(user, user.personal_workspace, "target")[0]
    api = client_for(user, abilities=[a for a in ALL_ABILITIES if a != ability])
    response = getattr(api, method)(path.format(token=target.pk), data, format="json")
    assert response.status_code == 403
    assert response.json()["message"] == f"This token lacks the {ability} ability."
    assert ApiToken.objects.active().filter(pk=target.pk).exists()


def test_logout_revokes_only_the_callers_token_and_needs_no_ability(user):
    reader = client_for(user, abilities=["images:read"])
    other = client_for(user)
    assert reader.post("/api/auth/logout").status_code == 200
    assert not works(reader) and works(other)


def test_the_migration_gives_full_access_tokens_the_new_abilities(user):
    full = ApiToken.issue(user, user.personal_workspace, "old full", ["images:read", "images:write",
                                                                     "images:delete", "user:read"])[0]  # fmt: skip
    narrow = ApiToken.issue(user, user.personal_workspace, "old narrow", ["images:read"])[0]
    for name in ("0002_token_write_abilities", "0005_webhooks_write_ability"):
        importlib.import_module(f"accounts.migrations.{name}").grant(apps, None)
    full.refresh_from_db()
    narrow.refresh_from_db()
    assert set(full.abilities) == set(ALL_ABILITIES)
    assert narrow.abilities == ["images:read"]
