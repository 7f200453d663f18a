"""Plans and the monthly image quota: Free's third image, refunds, batches, concurrency."""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from rest_framework.test import APIClient

from billing.models import MonthlyUsage, Plan, Subscription, month_start, next_month_start
from billing.quota import QuotaExceeded, limits_for, reserve_images, used_images
from images import jobs
from images.models import Image
from upscaler_site.testing import client_for, encode, make_user, photo

pytestmark = pytest.mark.django_db

URL = "/api/images/upscale"


@pytest.fixture
def free_user(db):
    return make_user("free@example.com")


def upload(client, **params):
    return client.post(URL, {"image": encode(photo(size=(40, 30))), **params})


def test_plans_are_seeded():
    plans = {p.slug: (p.requests_per_hour, p.images_per_month, p.max_scale, p.batches) for p in Plan.objects.all()}
    assert plans == {
        "free": (100, 2, 2, False),
        "starter": (500, 25, 4, False),
        "professional": (2000, 250, 4, True),
        "enterprise": (10000, 1000, 16, True),
    }


def test_free_workspace_gets_403_on_its_third_image_this_month(free_user):
    api = client_for(free_user)
    assert [upload(api).status_code for _ in range(2)] == [202, 202]
    response = upload(api)
    assert response.status_code == 403
    message = response.json()["message"]
    assert "monthly quota of 2 images is used up" in message
    assert f"resets on {next_month_start():%Y-%m-%d}" in message
    assert Image.objects.filter(workspace=free_user.personal_workspace).count() == 2
    assert response["X-RateLimit-Limit"] == "2" and response["X-RateLimit-Remaining"] == "0"


def test_quota_headers_on_every_image_endpoint(free_user):
    api = client_for(free_user)
    first = upload(api)
    assert (first["X-RateLimit-Limit"], first["X-RateLimit-Remaining"]) == ("2", "1")
    listed = api.get("/api/images")
    assert (listed["X-RateLimit-Limit"], listed["X-RateLimit-Remaining"]) == ("2", "1")


def test_a_failed_image_gives_its_quota_back(free_user):
    api = client_for(free_user)
    image = Image.objects.get(pk=upload(api).json()["data"]["id"])
    assert used_images(free_user.personal_workspace) == 1
    jobs.fail(image, "The model produced invalid values.")
    assert used_images(free_user.personal_workspace) == 0
    jobs.fail(image, "again")  # already failed: no second refund
    assert used_images(free_user.personal_workspace) == 0


def test_plan_max_scale_is_enforced(free_user):
    response = upload(client_for(free_user), scale_factor="4")
    assert response.status_code == 403
    assert "upscales at most 2x" in response.json()["message"]
    assert used_images(free_user.personal_workspace) == 0


def test_staff_assigned_plan_with_a_contract_quota(free_user):
    workspace = free_user.personal_workspace
    Subscription.objects.create(workspace=workspace, plan=Plan.objects.get(slug="enterprise"), image_quota=12500)
    limits = limits_for(workspace)
    assert (limits.plan.slug, limits.images_per_month, limits.max_scale) == ("enterprise", 12500, 16)


def test_a_batch_must_fit_as_a_whole(free_user):
    workspace = free_user.personal_workspace
    reserve_images(workspace, 1)
    with pytest.raises(QuotaExceeded):
        reserve_images(workspace, 2)
    assert used_images(workspace) == 1
    reserve_images(workspace, 1)
    assert used_images(workspace) == 2


def test_the_quota_is_per_calendar_month_in_utc(free_user, monkeypatch):
    import billing.models

    workspace = free_user.personal_workspace
    reserve_images(workspace, 2)
    monkeypatch.setattr(billing.models, "now", lambda: datetime(2030, 1, 31, 23, 59, tzinfo=UTC))
    assert month_start() == datetime(2030, 1, 1).date()
    reserve_images(workspace, 2)  # January 2030 is a new month
    assert next_month_start() == datetime(2030, 2, 1, tzinfo=UTC)
    assert MonthlyUsage.objects.filter(workspace=workspace).count() == 2


def test_an_expired_subscription_is_403(free_user):
    from django.utils import timezone

    Subscription.objects.create(
        workspace=free_user.personal_workspace, plan=Plan.objects.get(slug="starter"), status="unpaid"
    )
    response = upload(client_for(free_user))
    assert response.status_code == 403
    assert "subscription has expired" in response.json()["message"]
    Subscription.objects.filter(workspace=free_user.personal_workspace).update(
        status="past_due", grace_until=timezone.now() + timedelta(days=3)
    )
    assert upload(client_for(free_user)).status_code == 202  # still inside the grace period


def test_a_plan_without_api_access_is_403(free_user):
    Plan.objects.filter(slug="free").update(api_access=False)
    response = upload(client_for(free_user))
    assert response.status_code == 403
    assert "does not include API access" in response.json()["message"]


# A transactional test empties every table when it ends, seeded plans included;
# serialized_rollback restores the migrations' data for the tests after it.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_50_concurrent_uploads_one_below_the_quota_accept_exactly_one(free_user):
    """50 threads, each its own client and database connection, upload at the same moment."""
    workspace = free_user.personal_workspace
    reserve_images(workspace, 1)  # one image left this month
    key = client_for(free_user).token_key
    Plan.objects.filter(slug="free").update(requests_per_hour=1000)
    body = encode(photo(size=(40, 30))).getvalue()
    codes: list[int] = []
    start = threading.Barrier(50)

    def one() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        upload_file = io.BytesIO(body)
        upload_file.name = "cat.png"
        start.wait()
        try:
            codes.append(client.post(URL, {"image": upload_file}).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=one) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(codes) == [202] + [403] * 49
    assert used_images(workspace) == 2
    assert Image.objects.filter(workspace=workspace).count() == 1
