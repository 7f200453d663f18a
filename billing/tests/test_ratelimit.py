"""Hourly request limits: the plan's per workspace, 10 per IP without a token; 429 with Retry-After."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from billing.models import Plan
from billing.ratelimit import hit
from upscaler_site.testing import client_for, make_user

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
