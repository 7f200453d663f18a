"""Billing pages: the plan and usage, the way to Stripe Checkout and the Billing Portal, and back.

Thin views: Stripe is reached through :mod:`billing.checkout` and :mod:`billing.stripe_sync`.
Only a workspace's owner and admins manage billing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import stripe
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Workspace
from accounts.requests import AuthenticatedHttpRequest
from accounts.workspaces import current_workspace
from billing import checkout, stripe_sync
from billing.models import Plan
from billing.quota import limits_for, usage_for

logger = logging.getLogger(__name__)


@login_required
@require_GET
def overview(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The current plan, this month's usage, the plans to upgrade to and the billing portal."""
    workspace = current_workspace(request)
    limits = limits_for(workspace)
    context = {
        "workspace": workspace,
        "limits": limits,
        "subscription": limits.subscription,
        "plans": Plan.objects.all(),
        "usage": usage_for(workspace, limits),
        "payments_configured": stripe_sync.is_configured(),
        "can_manage": request.user.manages(workspace),
        "has_customer": bool(limits.subscription and limits.subscription.stripe_customer_id),
    }
    return render(request, "billing/billing.html", context)


def _manager_workspace(request: AuthenticatedHttpRequest) -> Workspace:
    workspace = current_workspace(request)
    if not request.user.manages(workspace):
        raise PermissionDenied(checkout.MANAGERS_ONLY)
    return workspace


def _to_stripe(
    request: AuthenticatedHttpRequest, workspace: Workspace, what: str, start: Callable[[], str]
) -> HttpResponse:
    """Redirect to the URL ``start`` gets from Stripe, or back to the billing page saying what went wrong."""
    try:
        return redirect(start())
    except (stripe_sync.PaymentsNotConfigured, stripe_sync.BillingError) as exc:
        messages.error(request, str(exc))
    except stripe.StripeError:
        logger.exception("Stripe %s failed for workspace %s", what, workspace.pk)
        messages.error(request, "The payment provider could not be reached. Please try again.")
    return redirect("billing_web:overview")


@login_required
@require_POST
def checkout_redirect(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Send an owner or admin to Stripe Checkout for the chosen plan."""
    workspace = _manager_workspace(request)
    slug = get_object_or_404(Plan, slug=request.POST.get("plan", "")).slug
    return _to_stripe(
        request, workspace, "Checkout", lambda: checkout.start_checkout(request, request.user, workspace, slug)
    )


@login_required
@require_POST
def portal_redirect(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Send an owner or admin to the Stripe Billing Portal (payment method, invoices, cancellation)."""
    workspace = _manager_workspace(request)
    return _to_stripe(request, workspace, "Billing Portal", lambda: checkout.start_portal(request, workspace))


@login_required
@require_GET
def success(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Back from a completed Checkout: the plan changes once Stripe's webhook arrives."""
    return render(request, "billing/success.html", {"workspace": current_workspace(request)})


@login_required
@require_GET
def cancel(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Back from an abandoned Checkout: nothing was charged."""
    return render(request, "billing/cancel.html", {"workspace": current_workspace(request)})
