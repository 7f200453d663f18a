"""Password guessing is counted the same at every entry point: the API, allauth's pages and the admin
(security, issue #11 item 5)."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from upscaler_site.testing import make_user

pytestmark = pytest.mark.django_db

LOGIN = "/api/auth/login"


def api_login(email: str, password: str, ip: str = "203.0.113.9"):
    return APIClient(REMOTE_ADDR=ip).post(LOGIN, {"email": email, "password": password})


def test_the_api_login_stops_guessing_one_account_even_from_many_addresses(user):
    codes = [api_login(user.email, f"wrong-{n}", ip=f"203.0.113.{n}").status_code for n in range(5)]
    assert codes == [401] * 5
    refused = api_login(user.email, "Secret-pass-1", ip="198.51.100.7")  # the right password, too late
    assert refused.status_code == 429
    body = refused.json()
    assert body["success"] is False and "Too many failed logins" in body["message"]
    assert int(refused["Retry-After"]) == 300
    # Another account is not affected.
    other = make_user("grace@example.com")
    assert api_login(other.email, "Secret-pass-1", ip="198.51.100.7").status_code == 200


def test_a_success_forgets_the_failures(user):
    for n in range(4):
        assert api_login(user.email, f"wrong-{n}").status_code == 401
    assert api_login(user.email, "Secret-pass-1").status_code == 200
    assert api_login(user.email, "wrong-again").status_code == 401  # counting starts over


def test_the_admin_login_is_counted_like_the_others(db):
    make_user("staff@example.com", is_staff=True, is_superuser=True)
    browser = Client(REMOTE_ADDR="203.0.113.50")
    for n in range(5):
        page = browser.post("/admin/login/", {"username": "staff@example.com", "password": f"wrong-{n}"})
        assert page.status_code == 200 and b"Please enter the correct" in page.content
    page = browser.post("/admin/login/", {"username": "staff@example.com", "password": "Secret-pass-1"})
    assert page.status_code == 200 and b"Too many failed logins" in page.content
    assert "_auth_user_id" not in browser.session
    # The account is locked out of allauth's page as well: the counters are shared.
    page = Client().post("/accounts/login/", {"login": "staff@example.com", "password": "Secret-pass-1"})
    assert page.status_code == 200 and b"Too many failed login attempts" in page.content


def test_the_admin_login_still_works(db):
    make_user("staff@example.com", is_staff=True, is_superuser=True)
    browser = Client()
    response = browser.post("/admin/login/?next=/admin/", {"username": "staff@example.com",
                                                           "password": "Secret-pass-1"})  # fmt: skip
    assert response.status_code == 302 and response.url == "/admin/"
    assert browser.get("/admin/").status_code == 200


def test_ipv6_clients_are_counted_by_their_64(settings):
    """Without a token, 10 requests an hour per client; a /64 is one client."""
    codes = [APIClient(REMOTE_ADDR=f"2001:db8:1:2::{n:x}").get("/api/images").status_code for n in range(11)]
    assert codes == [401] * 10 + [429]
    assert APIClient(REMOTE_ADDR="2001:db8:1:3::1").get("/api/images").status_code == 401  # another /64
