"""allauth's web flows in the site's pages: sign-up with mandatory verification, password rules,
password reset and email change with re-verification, each following the real emailed link."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from accounts.models import User
from upscaler_site.testing import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "Str0ng-passphrase"


def emailed_path(message, pattern: str) -> str:
    """The path of the first http://testserver link in ``message`` whose path matches ``pattern``."""
    match = re.search(r"https?://testserver(" + pattern + r")", message.body)
    assert match, f"no link matching {pattern!r} in:\n{message.body}"
    return match.group(1)


def log_in(client: Client, email: str, password: str):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def is_logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def logs_in(email: str, password: str) -> bool:
    """Whether a fresh browser logging in with these credentials gets a session (and the dashboard)."""
    client = Client()
    response = log_in(client, email, password)
    return is_logged_in(client) and response.url == reverse("images_web:dashboard")


# --- Sign-up ----------------------------------------------------------------------------------------


def test_sign_up_verify_by_the_emailed_link_then_log_in(client, mailoutbox):
    response = client.post(
        reverse("account_signup"), {"email": "New@Example.com", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302
    assert response.url == reverse("account_email_verification_sent")
    assert not is_logged_in(client)

    user = User.objects.get(email="new@example.com")
    assert not user.email_verified
    workspace = user.personal_workspace
    assert workspace.personal and workspace.owner == user
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["new@example.com"]

    # The verification-sent page is the site's layout.
    page = client.get(response.url)
    assert b'href="/static/css/app.css"' in page.content and b"Skip to content" in page.content

    # Mandatory verification: the password is right but there is no session yet.
    other = Client()
    response = log_in(other, "new@example.com", PASSWORD)
    assert response.status_code == 302 and response.url == reverse("account_email_verification_sent")
    assert not is_logged_in(other)
    assert other.get(reverse("images_web:dashboard")).status_code == 302
    assert not logs_in("new@example.com", PASSWORD)

    # GET the real link: a confirmation page with a form; POST it as allauth expects.
    link = emailed_path(mailoutbox[0], r"/accounts/confirm-email/[^/\s]+/")
    page = client.get(link)
    assert page.status_code == 200 and b"Confirm" in page.content
    assert not User.objects.get(pk=user.pk).email_verified  # a GET confirms nothing
    response = client.post(link)
    assert response.status_code == 302
    assert User.objects.get(pk=user.pk).email_verified

    # Now logging in works and lands on the dashboard of the personal workspace.
    fresh = Client()
    response = log_in(fresh, "new@example.com", PASSWORD)
    assert response.status_code == 302 and response.url == reverse("images_web:dashboard")
    dashboard = fresh.get(response.url)
    assert dashboard.status_code == 200
    assert escape(workspace.name) in dashboard.content.decode()
    assert dashboard.context["image_count"] == 0


def test_dashboard_requires_login(client):
    response = client.get(reverse("images_web:dashboard"))
    assert response.status_code == 302
    assert response.url == f"{reverse('account_login')}?next=/"


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Sh0rt-a", "This password is too short. It must contain at least 8 characters."),
        ("lowercase-only-9", "Your password must contain upper- and lowercase letters and at least one number."),
        ("No-Digits-Here", "Your password must contain upper- and lowercase letters and at least one number."),
    ],
    ids=["too-short", "no-uppercase", "no-digit"],
)
def test_sign_up_rejects_weak_passwords(client, mailoutbox, password, message):
    response = client.post(
        reverse("account_signup"), {"email": "weak@example.com", "password1": password, "password2": password}
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not User.objects.filter(email="weak@example.com").exists()
    assert mailoutbox == []


def test_login_page_uses_the_site_layout(client):
    page = client.get(reverse("account_login"))
    html = page.content.decode()
    assert page.status_code == 200
    assert '<html lang="en">' in html and "app.css" in html
    assert 'href="/accounts/signup/"' in html


def test_logout_is_a_post_form_in_the_nav(client, user):
    client.force_login(user)
    html = client.get(reverse("images_web:dashboard")).content.decode()
    assert re.search(r'<form method="post" action="/accounts/logout/"', html)
    response = client.post(reverse("account_logout"))
    assert response.status_code == 302 and not is_logged_in(client)


# --- Password reset --------------------------------------------------------------------------------


def test_password_reset_through_the_emailed_link(client, user, mailoutbox):
    response = client.post(reverse("account_reset_password"), {"email": "ada@example.com"})
    assert response.status_code == 302
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["ada@example.com"]

    link = emailed_path(mailoutbox[0], r"/accounts/password/reset/key/[^/\s]+/")
    response = client.get(link)  # allauth moves the key into the session and redirects
    assert response.status_code == 302
    form_url = response.url
    page = client.get(form_url)
    assert page.status_code == 200 and b'name="password1"' in page.content

    # The password rules apply here too.
    weak = client.post(form_url, {"password1": "alllowercase1", "password2": "alllowercase1"})
    assert weak.status_code == 200 and b"upper- and lowercase" in weak.content

    response = client.post(form_url, {"password1": "N3w-passphrase", "password2": "N3w-passphrase"})
    assert response.status_code == 302 and response.url == reverse("account_reset_password_from_key_done")

    assert not logs_in(user.email, "Secret-pass-1")  # the old password no longer works
    assert logs_in(user.email, "N3w-passphrase")

    # The link is single-use.
    again = client.get(link, follow=True)
    assert b'name="password1"' not in again.content


# --- Email change ------------------------------------------------------------------------------------


def test_email_change_takes_effect_only_once_the_new_address_is_verified(client, user, mailoutbox):
    client.force_login(user)
    page = client.get(reverse("account_email"))
    assert page.status_code == 200 and b"app.css" in page.content

    response = client.post(reverse("account_email"), {"action_add": "", "email": "ada.new@example.com"})
    assert response.status_code == 302
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["ada.new@example.com"]

    # Not yet: the login address is still the old one.
    user.refresh_from_db()
    assert user.email == "ada@example.com"
    assert not EmailAddress.objects.get(email="ada.new@example.com").verified
    assert not logs_in("ada.new@example.com", "Secret-pass-1")
    assert logs_in("ada@example.com", "Secret-pass-1")

    link = emailed_path(mailoutbox[0], r"/accounts/confirm-email/[^/\s]+/")
    assert client.get(link).status_code == 200
    assert client.post(link).status_code == 302

    user.refresh_from_db()
    assert user.email == "ada.new@example.com"
    assert user.email_verified
    assert list(EmailAddress.objects.filter(user=user).values_list("email", flat=True)) == ["ada.new@example.com"]
    assert logs_in("ada.new@example.com", "Secret-pass-1")
    assert not logs_in("ada@example.com", "Secret-pass-1")


def test_an_address_of_another_account_cannot_be_taken(client, user, mailoutbox):
    make_user("taken@example.com")
    client.force_login(user)
    client.post(reverse("account_email"), {"action_add": "", "email": "taken@example.com"})
    # allauth does not reveal that the address is taken, but even its link cannot make it Ada's.
    link = emailed_path(mailoutbox[0], r"/accounts/confirm-email/[^/\s]+/")
    assert b"already confirmed by a different account" in client.get(link).content
    client.post(link)
    user.refresh_from_db()
    assert user.email == "ada@example.com"
    assert not EmailAddress.objects.filter(user=user, email="taken@example.com", verified=True).exists()
    assert logs_in("taken@example.com", "Secret-pass-1")  # still the other account's login
