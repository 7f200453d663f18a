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
    body = client_for(person).get("/api/usage").json()
    assert body["message"] == "Usage statistics retrieved successfully"
    data = body["data"]
    assert data["plan"] == "free" and data["plan_details"]["name"] == "Free"
    uploads = data["image_uploads"]
    assert {k: uploads[k] for k in ("used", "limit", "remaining", "unlimited", "exceeded", "percentage")} == {
        "used": 1, "limit": 2, "remaining": 1, "unlimited": False, "exceeded": False, "percentage": 50.0
    }  # fmt: skip
    assert data["features"] == ["api_access"]


def test_usage_lists_the_paid_plans_features_as_strings():
    person = make_user("pro@example.com")
    Subscription.objects.create(workspace=person.personal_workspace, plan=Plan.objects.get(slug="professional"))
    data = client_for(person).get("/api/usage").json()["data"]
    assert (data["plan"], data["features"]) == ("professional", ["api_access", "batches", "priority_support"])


def test_subscription_on_free_is_a_lasting_default_subscription():
    person = make_user("free@example.com")
    body = client_for(person).get("/api/subscription").json()
    assert body["message"] == "Subscription details retrieved successfully"
    sub, plan = body["data"]["subscription"], body["data"]["plan"]
    assert (sub["id"], sub["type"], sub["status"], sub["ends_at"], sub["is_active"]) == (
        None, "default", "active", None, True
    )  # fmt: skip
    assert (sub["is_on_trial"], sub["is_cancelled"], sub["is_on_grace_period"]) == (False, False, False)
    assert sub["created_at"]
    assert (plan["slug"], plan["price"], plan["features"]) == ("free", 0, ["api_access"])
    assert plan["limits"][0] == "2 images per month" and all(isinstance(line, str) for line in plan["limits"])
    assert plan["quota"]["images_per_month"] == 2


def test_plan_prices_are_integers_when_whole():
    person = make_user("starter@example.com")
    starter = Plan.objects.get(slug="starter")
    Subscription.objects.create(workspace=person.personal_workspace, plan=starter)
    api = client_for(person)
    assert api.get("/api/subscription").json()["data"]["plan"]["price"] == 9
    Plan.objects.filter(pk=starter.pk).update(price="9.50")
    assert api.get("/api/subscription").json()["data"]["plan"]["price"] == 9.5


def test_a_contracts_own_quota_is_the_one_shown():
    person = make_user("big@example.com")
    Subscription.objects.create(
        workspace=person.personal_workspace, plan=Plan.objects.get(slug="enterprise"), image_quota=12_500
    )
    plan = client_for(person).get("/api/subscription").json()["data"]["plan"]
    assert plan["quota"]["images_per_month"] == 12_500 and plan["limits"][0] == "12,500 images per month"


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
    assert data["plan"]["name"] == "Professional" and "batches" in data["plan"]["features"]
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
    assert api.get("/api/usage").json()["data"]["plan"] == "free"


def test_profile_names_the_plan():
    person = make_user("free@example.com")
    plan = client_for(person).get("/api/user").json()["data"]["plan"]
    assert plan == {"id": Plan.free().pk, "name": "Free", "slug": "free"}
