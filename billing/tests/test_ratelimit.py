"""Hourly request limits: the plan's per workspace, 10 per IP without a token; 429 with Retry-After."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from rest_framework.test import APIClient

from billing.models import Plan
from billing.ratelimit import hit
from upscaler_site.testing import client_for, gunicorn, make_user

pytestmark = pytest.mark.django_db


def test_free_workspace_gets_429_after_100_requests_in_an_hour():
    person = make_user("free@example.com")
    api = client_for(person)
    codes = [api.get("/api/images").status_code for _ in range(101)]
    assert codes == [200] * 100 + [429]
    response = api.get("/api/images")
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 3600
    assert "limit is 100 per hour" in response.json()["message"]
    # Another workspace is counted on its own.
    assert client_for(make_user("other@example.com")).get("/api/images").status_code == 200


def test_the_limit_follows_the_plan():
    person = make_user("starter@example.com")
    Plan.objects.filter(slug="free").update(requests_per_hour=3)
    api = client_for(person)
    assert [api.get("/api/user").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_anonymous_requests_are_limited_to_10_per_hour_per_ip():
    anonymous = APIClient()
    codes = [anonymous.get("/api/images").status_code for _ in range(11)]
    assert codes == [401] * 10 + [429]
    other_ip = APIClient(REMOTE_ADDR="10.1.2.3")
    assert other_ip.get("/api/images").status_code == 401


def test_pages_and_downloads_are_not_api_limited(client):
    for _ in range(12):
        assert client.get("/accounts/login/").status_code == 200


def test_windows_are_hourly():
    assert hit("k", 1, now=3600 * 10 + 5) == (True, 3595)
    assert hit("k", 1, now=3600 * 10 + 6)[0] is False
    assert hit("k", 1, now=3600 * 11)[0] is True  # a new hour


def _anonymous_codes(n: int, **meta: str) -> list[int]:
    client = APIClient(**meta)  # type: ignore[arg-type]  # extra WSGI environ for every request
    return [client.get("/api/images").status_code for _ in range(n)]


def test_without_trusted_proxies_a_forged_forwarded_for_changes_nothing():
    assert _anonymous_codes(10, HTTP_X_FORWARDED_FOR="198.51.100.1") == [401] * 10
    assert _anonymous_codes(1, HTTP_X_FORWARDED_FOR="198.51.100.2") == [429]  # same REMOTE_ADDR


def test_behind_one_proxy_each_client_has_its_own_limit(settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    assert _anonymous_codes(11, HTTP_X_FORWARDED_FOR="198.51.100.1", **proxy) == [401] * 10 + [429]
    # Another client behind the same proxy is counted on its own ...
    assert _anonymous_codes(1, HTTP_X_FORWARDED_FOR="198.51.100.2", **proxy) == [401]
    # ... and a client cannot escape by prepending a forged address: the proxy appends the real one.
    assert _anonymous_codes(1, HTTP_X_FORWARDED_FOR="203.0.113.7, 198.51.100.1", **proxy) == [429]


def test_a_proxy_header_can_name_the_client(settings):
    settings.ALLAUTH_TRUSTED_CLIENT_IP_HEADER = "X-Real-IP"
    assert _anonymous_codes(11, HTTP_X_REAL_IP="198.51.100.1") == [401] * 10 + [429]
    assert _anonymous_codes(1, HTTP_X_REAL_IP="198.51.100.2") == [401]


def test_a_forwarded_for_shorter_than_the_proxy_count_falls_back_to_remote_addr(settings, caplog):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 2
    assert _anonymous_codes(11, HTTP_X_FORWARDED_FOR="198.51.100.1") == [401] * 10 + [429]
    assert "does not match X-Forwarded-For" in caplog.text


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_web_processes_share_one_workspace_limit(media_root, tmp_path):
    """Requests spread over two gunicorn processes, 4 at a time, get exactly the plan's limit between them.

    With per-process counters (Django's local-memory cache) each process would allow the
    whole limit, twice as many in all; with Django's own database-cache ``incr``,
    concurrent increments would be lost.
    """
    limit = 12
    Plan.objects.filter(slug="free").update(requests_per_hour=limit)
    key = client_for(make_user("spread@example.com")).token_key
    prefix = f"test-{uuid.uuid4().hex}"  # a Redis cache may hold counters of earlier runs
    with (
        gunicorn(media_root, tmp_path / "web1.log", CACHE_KEY_PREFIX=prefix) as first,
        gunicorn(media_root, tmp_path / "web2.log", CACHE_KEY_PREFIX=prefix) as second,
    ):

        def call(index: int) -> int:
            url = (first, second)[index % 2]
            return requests.get(f"{url}/api/images", headers={"Authorization": f"Bearer {key}"}, timeout=30).status_code

        with ThreadPoolExecutor(max_workers=4) as pool:
            codes = list(pool.map(call, range(3 * limit)))
    assert sorted(codes) == [200] * limit + [429] * (2 * limit)


def test_a_session_with_a_foreign_authorization_header_counts_against_its_workspace():
    """Issue #11 item 10: a signed-in dashboard whose browser adds 'Authorization: Basic …' (a proxy's
    login, say) is not an anonymous client; it gets its plan's limit, not the IP's 10."""
    from django.test import Client

    person = make_user("basic@example.com")
    Plan.objects.filter(slug="free").update(requests_per_hour=15)
    browser = Client(HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")
    browser.force_login(person)
    codes = [browser.get("/api/images").status_code for _ in range(16)]
    assert codes == [200] * 15 + [429]
    assert "your plan's limit is 15 per hour" in browser.get("/api/images").json()["message"]
