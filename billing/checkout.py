"""Sending an owner or admin to Stripe: Checkout for a plan, the Billing Portal; shared by the pages and the API."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse

from accounts.models import User, Workspace
from billing import stripe_sync
from billing.models import Plan

#: Why anyone else is refused.
MANAGERS_ONLY = "Only the owner and admins manage billing."


def _absolute(request: HttpRequest, name: str) -> str:
    return request.build_absolute_uri(reverse(name))


def start_checkout(request: HttpRequest, user: User, workspace: Workspace, slug: str) -> str:
    """The Checkout URL for ``workspace`` to subscribe to the plan ``slug``; Stripe sends the user back here.

    Raises:
        Plan.DoesNotExist: no such plan.
        PaymentsNotConfigured, BillingError, stripe.StripeError: see :mod:`billing.stripe_sync`.
    """
    plan = Plan.objects.get(slug=slug)
    success_url = _absolute(request, "billing_web:success") + "?session_id={CHECKOUT_SESSION_ID}"
    cancel_url = _absolute(request, "billing_web:cancel")
    return stripe_sync.create_checkout_session(workspace, plan, success_url, cancel_url, user.email)


def start_portal(request: HttpRequest, workspace: Workspace) -> str:
    """The Billing Portal URL for ``workspace`` (payment method, invoices, cancellation).

    Raises:
        PaymentsNotConfigured, BillingError, stripe.StripeError: see :mod:`billing.stripe_sync`.
    """
    return stripe_sync.create_portal_session(workspace, _absolute(request, "billing_web:overview"))
