"""Paid plans through Stripe, against localstripe (a stateful fake Stripe server started by conftest).

Customers, plans, subscriptions, invoices and events live in localstripe. It has no
Checkout or Billing Portal endpoints, so only ``stripe.checkout.Session.create`` and
``stripe.billing_portal.Session.create`` are replaced (recording what we send); the
subscription a Checkout would create is created in localstripe directly, and its events
are posted to our webhook signed the way Stripe signs them. Every webhook makes us fetch
the subscription from localstripe; for the two states localstripe cannot reach (a trial
that is "trialing", a renewal that failed, "past_due") the ``stripe_says`` fixture
overrides what it answers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import stripe
from django.test import Client
from django.utils import timezone

from accounts.models import Membership, Workspace
from billing.models import Plan, Subscription, WebhookEvent
from billing.quota import limits_for
from upscaler_site.testing import client_for, encode, make_user, photo

pytestmark = pytest.mark.django_db

WEBHOOK = "/billing/webhook"


# --- Helpers ------------------------------------------------------------------------------------------


def upload(api):
    return api.post("/api/images/upscale", {"image": encode(photo(size=(40, 30)))})


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header as Stripe computes it."""
    timestamp = timestamp or int(time.time())
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def event(type_: str, obj: dict, event_id: str | None = None) -> dict:
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": type_,
        "created": int(time.time()),
        "data": {"object": obj},
    }


def post_event(evt: dict, secret: str):
    payload = json.dumps(evt)
    return Client().post(WEBHOOK, payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=sign(payload, secret))


def localstripe_event(type_: str, object_id: str) -> dict:
    """The most recent event of ``type_`` about ``object_id`` that localstripe itself emitted."""
    for evt in stripe.Event.list(type=type_, limit=100).data:
        if evt["data"]["object"]["id"] == object_id:
            return json.loads(json.dumps(evt.to_dict()))  # plain JSON, as a webhook delivers it
    raise AssertionError(f"localstripe emitted no {type_} for {object_id}")


class Recorder:
    """Stands in for a Stripe endpoint localstripe lacks: records the call, returns a session with a URL."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.calls: list[dict[str, object]] = []

    def __call__(self, **params):
        self.calls.append(params)
        session_id = f"cs_test_{uuid.uuid4().hex[:16]}"
        return {"id": session_id, "object": "session", "url": f"https://{self.host}/{session_id}"}


@pytest.fixture
def checkout_sessions(monkeypatch) -> Recorder:
    recorder = Recorder("checkout.stripe.test")
    monkeypatch.setattr(stripe.checkout.Session, "create", recorder)
    return recorder


@pytest.fixture
def portal_sessions(monkeypatch) -> Recorder:
    recorder = Recorder("billing.stripe.test")
    monkeypatch.setattr(stripe.billing_portal.Session, "create", recorder)
    return recorder


@pytest.fixture
def stripe_says(monkeypatch):
    """``stripe_says(sub_id, status="past_due")``: Stripe reports these fields for that subscription from now on."""
    from billing import stripe_sync

    overrides: dict[str, dict] = {}
    real = stripe_sync.retrieve_subscription

    def retrieve(stripe_subscription_id: str) -> dict:
        return {**real(stripe_subscription_id), **overrides.get(stripe_subscription_id, {})}

    monkeypatch.setattr(stripe_sync, "retrieve_subscription", retrieve)
    return lambda sub_id, **fields: overrides.setdefault(sub_id, {}).update(fields)


@pytest.fixture
def free_user(db):
    return make_user("payer@example.com")


def pay_in_localstripe(customer_id: str, price_id: str, workspace: Workspace, **extra) -> dict:
    """What Checkout does once the card is accepted: a card on the customer and a subscription."""
    card = stripe.PaymentMethod.create(
        type="card", card={"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"}
    )
    stripe.PaymentMethod.attach(card.id, customer=customer_id)
    stripe.Customer.modify(customer_id, invoice_settings={"default_payment_method": card.id})
    sub = stripe.Subscription.create(
        customer=customer_id, items=[{"plan": price_id}], metadata={"workspace_id": str(workspace.pk)}, **extra
    )
    return sub.to_dict()


def subscribe(user, stripe_settings, checkout_sessions, **extra) -> dict:
    """Upgrade ``user``'s personal workspace to Starter end to end; returns the Stripe subscription."""
    workspace = user.personal_workspace
    response = client_for(user).post("/api/billing/checkout", {"plan": "starter"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["data"]["url"].startswith("https://checkout.stripe.test/cs_test_")
    customer_id = Subscription.objects.get(workspace=workspace).stripe_customer_id
    sub = pay_in_localstripe(customer_id, stripe_settings["starter_price"], workspace, **extra)
    session = {
        "id": checkout_sessions.calls[-1].get("id", "cs_test_done"),
        "object": "checkout.session",
        "mode": "subscription",
        "customer": customer_id,
        "subscription": sub["id"],
        "client_reference_id": str(workspace.pk),
        "metadata": {"workspace_id": str(workspace.pk), "plan": "starter"},
    }
    assert (
        post_event(event("checkout.session.completed", session), stripe_settings["webhook_secret"]).status_code == 200
    )
    created = localstripe_event("customer.subscription.created", sub["id"])
    assert post_event(created, stripe_settings["webhook_secret"]).status_code == 200
    return sub


# --- The upgrade --------------------------------------------------------------------------------------


def test_free_workspace_upgrades_to_starter_through_checkout_and_webhooks(
    free_user, stripe_settings, checkout_sessions
):
    workspace = free_user.personal_workspace
    api = client_for(free_user)
    assert [upload(api).status_code for _ in range(3)] == [202, 202, 403]

    sub = subscribe(free_user, stripe_settings, checkout_sessions)

    (params,) = checkout_sessions.calls
    assert params["mode"] == "subscription"
    assert params["line_items"] == [{"price": stripe_settings["starter_price"], "quantity": 1}]
    assert params["client_reference_id"] == str(workspace.pk)
    assert params["metadata"]["workspace_id"] == str(workspace.pk)
    assert params["success_url"].startswith("http://testserver/billing/success")
    assert params["cancel_url"] == "http://testserver/billing/cancel"
    customer = stripe.Customer.retrieve(params["customer"])  # really created in localstripe
    assert customer["metadata"]["workspace_id"] == str(workspace.pk)

    ours = Subscription.objects.get(workspace=workspace)
    assert (ours.plan.slug, ours.status) == ("starter", "active")
    assert (ours.stripe_customer_id, ours.stripe_subscription_id) == (customer.id, sub["id"])
    assert ours.ends_at is None and ours.grace_until is None
    assert limits_for(workspace).images_per_month == 25
    assert upload(api).status_code == 202


def test_a_second_checkout_reuses_the_stripe_customer(free_user, stripe_settings, checkout_sessions):
    api = client_for(free_user)
    for _ in range(2):
        assert api.post("/api/billing/checkout", {"plan": "starter"}, format="json").status_code == 200
    assert checkout_sessions.calls[0]["customer"] == checkout_sessions.calls[1]["customer"]
    assert Subscription.objects.get(workspace=free_user.personal_workspace).plan.slug == "free"


def test_a_trial_subscription_is_trialing_with_its_end(free_user, stripe_settings, checkout_sessions, stripe_says):
    trial_end = int(time.time()) + 14 * 86400
    sub = subscribe(free_user, stripe_settings, checkout_sessions, trial_end=trial_end)
    # localstripe keeps a trial subscription "incomplete"; Stripe says "trialing" and sends an update.
    stripe_says(sub["id"], status="trialing")
    trialing = stripe.Subscription.retrieve(sub["id"]).to_dict()
    assert (
        post_event(event("customer.subscription.updated", trialing), stripe_settings["webhook_secret"]).status_code
        == 200
    )
    ours = Subscription.objects.get(workspace=free_user.personal_workspace)
    assert (ours.plan.slug, ours.status) == ("starter", "trialing")
    assert ours.trial_ends_at == datetime.fromtimestamp(trial_end, tz=UTC)
    assert ours.is_on_trial


# --- Webhook safety -----------------------------------------------------------------------------------


def test_a_bad_signature_is_rejected_and_changes_nothing(free_user, stripe_settings, checkout_sessions):
    sub = subscribe(free_user, stripe_settings, checkout_sessions)
    before = Subscription.objects.get(workspace=free_user.personal_workspace)
    events_before = WebhookEvent.objects.count()
    cancelled = {**sub, "status": "canceled", "ended_at": int(time.time())}
    payload = json.dumps(event("customer.subscription.deleted", cancelled))
    for header in (sign(payload, "whsec_wrong"), sign(payload, stripe_settings["webhook_secret"], 1_600_000_000), ""):
        response = Client().post(WEBHOOK, payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
        assert response.status_code == 400
    after = Subscription.objects.get(workspace=free_user.personal_workspace)
    assert (after.plan, after.status, after.ends_at, after.updated_at) == (
        before.plan, before.status, before.ends_at, before.updated_at
    )  # fmt: skip
    assert WebhookEvent.objects.count() == events_before


def test_a_replayed_event_changes_nothing(free_user, stripe_settings, checkout_sessions, stripe_says):
    sub = subscribe(free_user, stripe_settings, checkout_sessions)
    invoice = stripe.Invoice.retrieve(sub["latest_invoice"]).to_dict()
    secret = stripe_settings["webhook_secret"]
    failed = event("invoice.payment_failed", invoice)
    stripe_says(sub["id"], status="past_due")
    assert post_event(failed, secret).status_code == 200
    assert Subscription.objects.get(workspace=free_user.personal_workspace).status == "past_due"
    stripe_says(sub["id"], status="active")
    assert post_event(event("invoice.paid", invoice), secret).status_code == 200
    count = WebhookEvent.objects.count()

    response = post_event(failed, secret)  # the same event id again
    assert response.status_code == 200 and response.json()["result"] == "duplicate"
    ours = Subscription.objects.get(workspace=free_user.personal_workspace)
    assert (ours.status, ours.grace_until) == ("active", None)
    assert WebhookEvent.objects.count() == count


def test_unhandled_event_types_are_acknowledged(stripe_settings):
    response = post_event(event("customer.created", {"id": "cus_x", "object": "customer"}), "whsec_test_secret")
    assert response.status_code == 200 and response.json()["result"] == "ignored"


# --- Changes to the subscription ----------------------------------------------------------------------


def test_cancel_at_period_end_keeps_starter_until_then(free_user, stripe_settings, checkout_sessions):
    sub = subscribe(free_user, stripe_settings, checkout_sessions)
    updated = stripe.Subscription.modify(sub["id"], cancel_at_period_end=True).to_dict()
    assert (
        post_event(event("customer.subscription.updated", updated), stripe_settings["webhook_secret"]).status_code
        == 200
    )
    ours = Subscription.objects.get(workspace=free_user.personal_workspace)
    assert ours.ends_at == datetime.fromtimestamp(updated["current_period_end"], tz=UTC)
    assert ours.ends_at > timezone.now() + timedelta(days=20)
    assert ours.is_cancelled and ours.is_on_grace_period and not ours.is_expired
    assert limits_for(free_user.personal_workspace).plan.slug == "starter"
    assert upload(client_for(free_user)).status_code == 202

    resumed = stripe.Subscription.modify(sub["id"], cancel_at_period_end=False).to_dict()
    assert (
        post_event(event("customer.subscription.updated", resumed), stripe_settings["webhook_secret"]).status_code
        == 200
    )
    assert Subscription.objects.get(workspace=free_user.personal_workspace).ends_at is None


def test_payment_failed_is_past_due_with_a_grace_period_then_paid_is_active(
    free_user, stripe_settings, checkout_sessions, stripe_says
):
    sub = subscribe(free_user, stripe_settings, checkout_sessions)
    invoice = stripe.Invoice.retrieve(sub["latest_invoice"]).to_dict()
    secret = stripe_settings["webhook_secret"]
    stripe_says(sub["id"], status="past_due")
    assert post_event(event("invoice.payment_failed", invoice), secret).status_code == 200
    ours = Subscription.objects.get(workspace=free_user.personal_workspace)
    assert ours.status == "past_due"
    assert timedelta(days=6, hours=23) < ours.grace_until - timezone.now() <= timedelta(days=7)
    assert ours.is_on_grace_period and ours.is_active
    assert upload(client_for(free_user)).status_code == 202  # service continues during the grace period

    # Stripe's subscription update for the same failure keeps the grace period already running.
    past_due = stripe.Subscription.retrieve(sub["id"]).to_dict()
    assert post_event(event("customer.subscription.updated", past_due), secret).status_code == 200
    assert Subscription.objects.get(workspace=free_user.personal_workspace).grace_until == ours.grace_until

    stripe_says(sub["id"], status="active")
    assert post_event(event("invoice.paid", invoice), secret).status_code == 200
    ours.refresh_from_db()
    assert (ours.status, ours.grace_until) == ("active", None)


def test_deleted_subscription_falls_back_to_free(free_user, stripe_settings, checkout_sessions):
    sub = subscribe(free_user, stripe_settings, checkout_sessions)
    cancelled = stripe.Subscription.cancel(sub["id"]).to_dict()
    assert cancelled["status"] == "canceled"
    assert (
        post_event(event("customer.subscription.deleted", cancelled), stripe_settings["webhook_secret"]).status_code
        == 200
    )
    ours = Subscription.objects.get(workspace=free_user.personal_workspace)
    assert ours.status == "canceled" and ours.ends_at <= timezone.now() and ours.is_expired
    assert limits_for(free_user.personal_workspace).plan == Plan.free()
    api = client_for(free_user)
    assert api.get("/api/usage").json()["data"]["plan"] == "free"


# --- Who may pay, and the portal ------------------------------------------------------------------------


def test_only_owners_and_admins_manage_billing(free_user, stripe_settings, checkout_sessions, portal_sessions):
    workspace = free_user.personal_workspace
    member, admin = make_user("member@example.com"), make_user("admin@example.com")
    Membership.objects.create(workspace=workspace, user=member, role=Membership.Role.MEMBER)
    Membership.objects.create(workspace=workspace, user=admin, role=Membership.Role.ADMIN)
    as_member = client_for(member, workspace)
    assert as_member.post("/api/billing/checkout", {"plan": "starter"}, format="json").status_code == 403
    assert as_member.post("/api/billing/portal").status_code == 403
    assert checkout_sessions.calls == [] and portal_sessions.calls == []

    as_admin = client_for(admin, workspace)
    assert as_admin.post("/api/billing/portal").status_code == 422  # no billing account yet
    assert as_admin.post("/api/billing/checkout", {"plan": "starter"}, format="json").status_code == 200
    response = as_admin.post("/api/billing/portal")
    assert response.status_code == 200 and response.json()["data"]["url"].startswith("https://billing.stripe.test/")
    (params,) = portal_sessions.calls
    assert params["customer"] == Subscription.objects.get(workspace=workspace).stripe_customer_id
    assert params["return_url"] == "http://testserver/billing/"


def test_checkout_api_needs_user_read_and_a_purchasable_plan(free_user, stripe_settings, checkout_sessions):
    assert client_for(free_user, abilities=["images:read"]).post("/api/billing/checkout").status_code == 403
    api = client_for(free_user)
    assert api.post("/api/billing/checkout", {"plan": "nope"}, format="json").status_code == 422
    assert api.post("/api/billing/checkout", {"plan": "enterprise"}, format="json").status_code == 422
    assert checkout_sessions.calls == []


# --- Pages ------------------------------------------------------------------------------------------------


def web_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_billing_page_shows_plan_usage_and_upgrades(free_user, stripe_settings, checkout_sessions):
    upload(client_for(free_user))
    client = web_client(free_user)
    page = client.get("/billing/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<strong>Free</strong> plan" in html
    assert 'value="50.0"' in html and "<strong>1</strong> of 2 images" in html
    assert "Upgrade to Starter" in html and "Upgrade to Enterprise" not in html
    assert "not configured" not in html

    response = client.post("/billing/checkout", {"plan": "starter"})
    assert response.status_code == 302 and response["Location"].startswith("https://checkout.stripe.test/")
    assert "Manage billing" in client.get("/billing/").content.decode()
    assert client.get("/billing/success").status_code == 200
    assert client.get("/billing/cancel").status_code == 200


def test_members_see_the_plan_but_cannot_upgrade(free_user, stripe_settings, checkout_sessions):
    member = make_user("member@example.com")
    Membership.objects.create(workspace=free_user.personal_workspace, user=member, role=Membership.Role.MEMBER)
    client = web_client(member)
    client.post("/workspaces/switch", {"workspace": free_user.personal_workspace.pk})
    html = client.get("/billing/").content.decode()
    assert "Upgrade to" not in html and "Only the owner and admins" in html
    assert client.post("/billing/checkout", {"plan": "starter"}).status_code == 403
    assert checkout_sessions.calls == []


def test_without_stripe_keys_billing_shows_the_plan_and_says_so(free_user, settings):
    settings.STRIPE_SECRET_KEY = ""
    html = web_client(free_user).get("/billing/").content.decode()
    assert "Payments are not configured" in html and "<strong>Free</strong> plan" in html
    assert "Upgrade to" not in html
    response = client_for(free_user).post("/api/billing/checkout", {"plan": "starter"}, format="json")
    assert response.status_code == 503
    assert Subscription.objects.filter(workspace=free_user.personal_workspace).count() == 0


def test_webhooks_without_a_secret_are_rejected(free_user, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    assert post_event(event("invoice.paid", {"id": "in_x"}), "anything").status_code == 400


# --- Events late, twice and out of order (issue #11 item 6) -----------------------------------------------


def test_a_late_active_update_after_deleted_does_not_bring_the_plan_back(free_user, stripe_settings, checkout_sessions):
    sub = subscribe(free_user, stripe_settings, checkout_sessions)
    secret = stripe_settings["webhook_secret"]
    stale_active = stripe.Subscription.retrieve(sub["id"]).to_dict()  # what an old "updated" event carries
    cancelled = stripe.Subscription.cancel(sub["id"]).to_dict()
    assert post_event(event("customer.subscription.deleted", cancelled), secret).status_code == 200
    assert post_event(event("customer.subscription.updated", stale_active), secret).status_code == 200
    assert limits_for(free_user.personal_workspace).plan == Plan.free()
    assert Subscription.objects.get(workspace=free_user.personal_workspace).status == "canceled"


def test_every_event_twice_and_in_reverse_order_ends_where_stripe_is(free_user, stripe_settings, checkout_sessions):
    sub = subscribe(free_user, stripe_settings, checkout_sessions)
    secret = stripe_settings["webhook_secret"]
    history = [event("customer.subscription.created", stripe.Subscription.retrieve(sub["id"]).to_dict())]
    history.append(event("customer.subscription.updated",
                         stripe.Subscription.modify(sub["id"], cancel_at_period_end=True).to_dict()))  # fmt: skip
    history.append(event("customer.subscription.deleted", stripe.Subscription.cancel(sub["id"]).to_dict()))
    for evt in [*reversed(history), *history]:
        assert post_event(evt, secret).status_code == 200
    ours = Subscription.objects.get(workspace=free_user.personal_workspace)
    assert ours.status == "canceled" and ours.is_expired
    assert limits_for(free_user.personal_workspace).plan == Plan.free()


def test_an_incomplete_subscription_does_not_grant_the_plan(free_user, stripe_settings, checkout_sessions, stripe_says):
    sub = subscribe(free_user, stripe_settings, checkout_sessions)
    for status in ("incomplete", "incomplete_expired", "unpaid"):
        stripe_says(sub["id"], status=status)
        payload = stripe.Subscription.retrieve(sub["id"]).to_dict()
        assert (
            post_event(event("customer.subscription.updated", payload), stripe_settings["webhook_secret"]).status_code
            == 200
        )
        assert limits_for(free_user.personal_workspace).plan == Plan.free(), status
    stripe_says(sub["id"], status="active")
    payload = stripe.Subscription.retrieve(sub["id"]).to_dict()
    assert (
        post_event(event("customer.subscription.updated", payload), stripe_settings["webhook_secret"]).status_code
        == 200
    )
    assert limits_for(free_user.personal_workspace).plan.slug == "starter"


def test_an_invoice_of_another_subscription_of_the_customer_touches_nothing(
    free_user, stripe_settings, checkout_sessions, stripe_says
):
    sub = subscribe(free_user, stripe_settings, checkout_sessions)
    customer_id = Subscription.objects.get(workspace=free_user.personal_workspace).stripe_customer_id
    other = stripe.Subscription.create(customer=customer_id, items=[{"plan": stripe_settings["starter_price"]}])
    stripe_says(other.id, status="past_due")
    invoice = stripe.Invoice.retrieve(other.latest_invoice).to_dict()
    assert post_event(event("invoice.payment_failed", invoice), stripe_settings["webhook_secret"]).status_code == 200
    ours = Subscription.objects.get(workspace=free_user.personal_workspace)
    assert (ours.stripe_subscription_id, ours.status) == (sub["id"], "active")


def test_deleting_the_account_cancels_the_stripe_subscription(free_user, stripe_settings, checkout_sessions):
    sub = subscribe(free_user, stripe_settings, checkout_sessions)
    free_user.delete()
    assert stripe.Subscription.retrieve(sub["id"]).status == "canceled"
