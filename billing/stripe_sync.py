"""Stripe, through its Python SDK: customers, Checkout and Billing Portal sessions, and subscriptions.

Plain functions, configured from settings: ``STRIPE_SECRET_KEY`` (without it payments are
not configured and every workspace stays on Free unless staff assign a plan),
``STRIPE_API_BASE`` (another Stripe-compatible server, e.g. localstripe in the tests) and
``BILLING_GRACE_DAYS`` (how long service continues after a failed payment, default 7).

:func:`sync_subscription` fetches a subscription from Stripe and applies its current
state to our :class:`~billing.models.Subscription` (:func:`apply_subscription`). Every
webhook goes through it, whatever the event's own payload says: events arrive late, twice
and out of order, and a late "active" after "deleted" must not bring a cancelled plan
back. The result depends only on Stripe's state now, so applying it again changes nothing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe
from django.conf import settings
from django.db import transaction

from accounts.models import Workspace
from billing.models import Plan, Subscription, now

logger = logging.getLogger(__name__)

Status = Subscription.Status
# Stripe's subscription statuses that ours has no word for.
_STATUS_ALIASES = {"incomplete_expired": Status.CANCELED, "paused": Status.UNPAID}
_ENDED = {"canceled", "incomplete_expired"}


class PaymentsNotConfigured(Exception):
    """No ``STRIPE_SECRET_KEY``: nothing can be bought online."""


class BillingError(Exception):
    """Something the user asked for cannot be done; the message is for the user."""


def is_configured() -> bool:
    """Whether a Stripe secret key is set."""
    return bool(getattr(settings, "STRIPE_SECRET_KEY", ""))


def _configure() -> None:
    """Point the SDK at the configured key (and server), or raise :class:`PaymentsNotConfigured`."""
    if not is_configured():
        raise PaymentsNotConfigured("Payments are not configured on this server.")
    stripe.api_key = settings.STRIPE_SECRET_KEY
    api_base = getattr(settings, "STRIPE_API_BASE", "")
    if api_base:
        stripe.api_base = api_base.rstrip("/")


# --- Customers and sessions ------------------------------------------------------------------------


def get_or_create_customer(workspace: Workspace, email: str = "") -> str:
    """The Stripe customer id of ``workspace``, creating the customer the first time.

    The id is kept on the workspace's subscription (a Free one is created to hold it).
    """
    _configure()
    with transaction.atomic():
        sub = Subscription.objects.select_for_update().filter(workspace=workspace).first()
        if sub is not None and sub.stripe_customer_id:
            return sub.stripe_customer_id
        customer = stripe.Customer.create(
            name=workspace.name,
            email=email or None,  # type: ignore[arg-type]  # the SDK leaves None out of the request
            metadata={"workspace_id": str(workspace.pk)},
        )
        if sub is None:
            sub = Subscription(workspace=workspace, plan=Plan.free())
        sub.stripe_customer_id = customer["id"]
        sub.save()
        return sub.stripe_customer_id


def create_checkout_session(
    workspace: Workspace, plan: Plan, success_url: str, cancel_url: str, email: str = ""
) -> str:
    """A Stripe Checkout Session subscribing ``workspace`` to ``plan``; returns its URL.

    Raises:
        PaymentsNotConfigured: no Stripe key.
        BillingError: the plan has no Stripe price.
    """
    _configure()
    if not plan.stripe_price_id:
        raise BillingError(f"The {plan.name} plan cannot be bought online; contact us.")
    customer = get_or_create_customer(workspace, email)
    session = stripe.checkout.Session.create(
        mode="subscription",
        customer=customer,
        line_items=[{"price": plan.stripe_price_id, "quantity": 1}],
        client_reference_id=str(workspace.pk),
        metadata={"workspace_id": str(workspace.pk), "plan": plan.slug},
        subscription_data={"metadata": {"workspace_id": str(workspace.pk)}},
        success_url=success_url,
        cancel_url=cancel_url,
    )
    return session["url"]


def create_portal_session(workspace: Workspace, return_url: str) -> str:
    """A Stripe Billing Portal session for the workspace's customer; returns its URL.

    Raises:
        PaymentsNotConfigured: no Stripe key.
        BillingError: the workspace has never been a Stripe customer.
    """
    _configure()
    sub = Subscription.objects.filter(workspace=workspace).exclude(stripe_customer_id="").first()
    if sub is None:
        raise BillingError("This workspace has no billing account yet: choose a plan first.")
    session = stripe.billing_portal.Session.create(customer=sub.stripe_customer_id, return_url=return_url)
    return session["url"]


# --- From Stripe objects to our subscription ----------------------------------------------------------


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def _first_item(obj: dict) -> dict:
    items = (obj.get("items") or {}).get("data") or []
    return items[0] if items else {}


def price_id_of(stripe_subscription: dict) -> str:
    """The price of the subscription's first item (``price``, or the legacy ``plan`` of older APIs)."""
    item = _first_item(stripe_subscription)
    for source in (item.get("price"), item.get("plan"), stripe_subscription.get("plan")):
        if isinstance(source, dict) and source.get("id"):
            return source["id"]
        if isinstance(source, str) and source:
            return source
    return ""


def _period_end(stripe_subscription: dict) -> datetime | None:
    """``current_period_end``: on the subscription in older API versions, on its items in newer ones."""
    return _timestamp(
        stripe_subscription.get("current_period_end") or _first_item(stripe_subscription).get("current_period_end")
    )


def _workspace_id(obj: dict) -> int | None:
    raw = (obj.get("metadata") or {}).get("workspace_id") or obj.get("client_reference_id")
    try:
        return int(raw) if raw else None
    except (TypeError, ValueError):
        return None


def _id(value: Any) -> str:
    """The id of an expandable field: a string, or an expanded object."""
    if isinstance(value, dict):
        return value.get("id", "")
    return value or ""


def _find_subscription(stripe_subscription_id: str, customer_id: str, workspace_id: int | None) -> Subscription | None:
    """Ours for a Stripe subscription: by its id, else by the customer, else by the workspace in the metadata."""
    qs = Subscription.objects.select_for_update()
    if stripe_subscription_id and (sub := qs.filter(stripe_subscription_id=stripe_subscription_id).first()):
        return sub
    if customer_id and (sub := qs.filter(stripe_customer_id=customer_id).first()):
        return sub
    if workspace_id and (sub := qs.filter(workspace_id=workspace_id).first()):
        return sub
    return None


@transaction.atomic
def apply_subscription(stripe_subscription: dict, workspace_id: int | None = None) -> Subscription | None:
    """Bring our subscription in line with a Stripe subscription object; idempotent.

    The plan comes from the price id (an unknown price keeps the plan), the status from
    Stripe's; ``trial_end`` sets ``trial_ends_at``; ``cancel_at_period_end`` sets ``ends_at``
    to the period end; a cancelled subscription ends when Stripe ended it; ``past_due``
    starts a grace period of ``BILLING_GRACE_DAYS`` unless one is running; ``active``
    clears it. Returns None when no workspace matches.
    """
    sub_id = stripe_subscription.get("id", "")
    customer_id = _id(stripe_subscription.get("customer"))
    workspace_id = workspace_id or _workspace_id(stripe_subscription)
    sub = _find_subscription(sub_id, customer_id, workspace_id)
    if sub is None:
        if not workspace_id or not Workspace.objects.filter(pk=workspace_id).exists():
            logger.warning("Stripe subscription %s matches no workspace", sub_id)
            return None
        sub = Subscription(workspace_id=workspace_id, plan=Plan.free())
    stripe_status = stripe_subscription.get("status", "")
    if sub.stripe_subscription_id and sub.stripe_subscription_id != sub_id and stripe_status in _ENDED:
        return sub  # an older subscription ending after the workspace took out a new one

    price = price_id_of(stripe_subscription)
    plan = Plan.objects.filter(stripe_price_id=price).first() if price else None
    if plan is not None:
        sub.plan = plan
    elif price:
        logger.warning("Stripe price %s matches no plan; keeping %s", price, sub.plan)
    status = _STATUS_ALIASES.get(stripe_status, stripe_status)
    sub.status = status if status in Status.values else Status.INCOMPLETE
    sub.quantity = int(_first_item(stripe_subscription).get("quantity") or stripe_subscription.get("quantity") or 1)
    sub.trial_ends_at = _timestamp(stripe_subscription.get("trial_end"))
    if stripe_status in _ENDED:
        sub.ends_at = (
            _timestamp(stripe_subscription.get("ended_at"))
            or _timestamp(stripe_subscription.get("canceled_at"))
            or sub.ends_at
            or now()
        )
    elif stripe_subscription.get("cancel_at_period_end"):
        sub.ends_at = _period_end(stripe_subscription) or _timestamp(stripe_subscription.get("cancel_at"))
    else:
        sub.ends_at = _timestamp(stripe_subscription.get("cancel_at"))
    if sub.status == Status.PAST_DUE:
        sub.grace_until = sub.grace_until or grace_deadline()
    elif sub.status in (Status.ACTIVE, Status.TRIALING):
        sub.grace_until = None
    sub.stripe_subscription_id = sub_id or sub.stripe_subscription_id
    sub.stripe_customer_id = customer_id or sub.stripe_customer_id
    sub.save()
    return sub


def grace_deadline() -> datetime:
    """When service stops after a payment failing now."""
    return now() + timedelta(days=getattr(settings, "BILLING_GRACE_DAYS", 7))


def retrieve_subscription(stripe_subscription_id: str) -> dict:
    """A subscription as Stripe has it now, as a plain dict."""
    _configure()
    return stripe.Subscription.retrieve(stripe_subscription_id).to_dict()


def sync_subscription(stripe_subscription_id: str, workspace_id: int | None = None) -> Subscription | None:
    """Fetch the subscription from Stripe and apply its current state (order-independent, idempotent).

    Raises:
        PaymentsNotConfigured: no Stripe key.
        stripe.StripeError: Stripe did not answer; the webhook fails and Stripe retries it.
    """
    return apply_subscription(retrieve_subscription(stripe_subscription_id), workspace_id)


def subscription_event(stripe_subscription: dict[str, Any]) -> Subscription | None:
    """``customer.subscription.*``: sync the subscription the event is about (its payload may be stale)."""
    sub_id = stripe_subscription.get("id", "")
    return sync_subscription(sub_id, _workspace_id(stripe_subscription)) if sub_id else None


@transaction.atomic
def link_checkout_session(session: dict[str, Any]) -> Subscription | None:
    """A completed Checkout Session: tie its customer and subscription to the workspace it was for,
    then sync the subscription."""
    workspace_id = _workspace_id(session)
    if workspace_id is None or not Workspace.objects.filter(pk=workspace_id).exists():
        logger.warning("Checkout session %s names no known workspace", session.get("id"))
        return None
    sub = Subscription.objects.select_for_update().filter(workspace_id=workspace_id).first()
    if sub is None:
        sub = Subscription(workspace_id=workspace_id, plan=Plan.free())
    sub.stripe_customer_id = _id(session.get("customer")) or sub.stripe_customer_id
    stripe_subscription_id = _id(session.get("subscription"))
    sub.stripe_subscription_id = stripe_subscription_id or sub.stripe_subscription_id
    sub.save()
    if stripe_subscription_id:
        return sync_subscription(stripe_subscription_id, workspace_id)
    return sub


def _invoice_subscription_id(invoice: dict[str, Any]) -> str:
    """The subscription of an invoice (top level in older API versions, under ``parent`` in newer ones)."""
    details = ((invoice.get("parent") or {}).get("subscription_details")) or {}
    return _id(invoice.get("subscription")) or _id(details.get("subscription"))


def invoice_event(invoice: dict[str, Any]) -> Subscription | None:
    """``invoice.paid``, ``invoice.payment_failed``: sync the invoice's own subscription.

    Matched by the subscription's id only: a customer may have had other subscriptions,
    and an invoice of one of them must not touch ours. Stripe's subscription status says
    whether its payments are in order (``past_due`` after a failed renewal).
    """
    sub_id = _invoice_subscription_id(invoice)
    if not sub_id or not Subscription.objects.filter(stripe_subscription_id=sub_id).exists():
        logger.info("Invoice %s is for no subscription of ours", invoice.get("id"))
        return None
    return sync_subscription(sub_id)


def cancel_for_deleted_workspace(subscription: Subscription) -> None:
    """Cancel the Stripe subscription of a workspace being deleted, so its owner is not charged again.

    Best effort: the workspace goes either way; a Stripe error is logged for staff to follow up.
    """
    if not subscription.stripe_subscription_id or not is_configured():
        return
    _configure()
    try:
        stripe.Subscription.cancel(subscription.stripe_subscription_id)
    except stripe.InvalidRequestError:
        pass  # already cancelled, or unknown to Stripe
    except stripe.StripeError:
        logger.exception(
            "Could not cancel Stripe subscription %s of deleted workspace %s: cancel it in the Stripe dashboard",
            subscription.stripe_subscription_id,
            subscription.workspace_id,
        )
