"""GET /api/usage and GET /api/subscription, and the plan in the profile."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import Plan, Subscription
from billing.quota import reserve_images
from upscaler_site.testing import client_for, make_user

pytestmark = pytest.mark.django_db


def test_usage_on_free():
    person = make_user("free@example.com")
    reserve_images(person.personal_workspace, 1)
    data = client_for(person).get("/api/usage").json()["data"]
    assert data["plan"]["slug"] == "free"
    uploads = data["image_uploads"]
    assert {k: uploads[k] for k in ("used", "limit", "remaining", "unlimited", "exceeded", "percentage")} == {
        "used": 1, "limit": 2, "remaining": 1, "unlimited": False, "exceeded": False, "percentage": 50.0
    }  # fmt: skip
    assert data["features"] == {"max_scale": 2, "batches": False, "api_access": True}


def test_subscription_on_free_is_null_with_the_plan():
    data = client_for(make_user("free@example.com")).get("/api/subscription").json()["data"]
    assert data["subscription"] is None
    assert data["plan"]["slug"] == "free" and data["plan"]["limits"]["images_per_month"] == 2


def test_subscription_fields():
    person = make_user("pro@example.com")
    Subscription.objects.create(
        workspace=person.personal_workspace,
        plan=Plan.objects.get(slug="professional"),
        status="trialing",
        trial_ends_at=timezone.now() + timedelta(days=14),
    )
    data = client_for(person).get("/api/subscription").json()["data"]
    sub = data["subscription"]
    assert set(sub) == {"id", "type", "status", "quantity", "trial_ends_at", "ends_at", "created_at", "is_active",
                        "is_on_trial", "is_cancelled", "is_on_grace_period"}  # fmt: skip
    assert (sub["status"], sub["is_active"], sub["is_on_trial"], sub["is_cancelled"]) == ("trialing", True, True, False)
    assert data["plan"]["name"] == "Professional" and data["plan"]["features"]["batches"] is True
    assert set(data["plan"]) >= {"name", "slug", "price", "features", "limits"}


def test_a_cancelled_subscription_runs_to_its_end_then_falls_back_to_free():
    person = make_user("leaving@example.com")
    sub = Subscription.objects.create(
        workspace=person.personal_workspace,
        plan=Plan.objects.get(slug="starter"),
        ends_at=timezone.now() + timedelta(days=3),
    )
    api = client_for(person)
    data = api.get("/api/subscription").json()["data"]
    assert data["subscription"]["is_on_grace_period"] is True and data["plan"]["slug"] == "starter"
    sub.ends_at = timezone.now() - timedelta(seconds=1)
    sub.save()
    assert api.get("/api/usage").json()["data"]["plan"]["slug"] == "free"


def test_profile_names_the_plan():
    person = make_user("free@example.com")
    plan = client_for(person).get("/api/user").json()["data"]["plan"]
    assert plan == {"id": Plan.free().pk, "name": "Free", "slug": "free"}
