"""Billing pages, the Checkout and Portal API endpoints, and the Stripe webhook.

Thin views: Stripe is reached through :mod:`billing.stripe_sync`, webhooks are verified
and applied by :mod:`billing.webhooks`. Only a workspace's owner and admins manage billing.
"""

from __future__ import annotations

import logging

import stripe
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.exceptions import PermissionDenied as ApiPermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Ability, Membership, User, Workspace
from accounts.permissions import request_workspace
from accounts.workspaces import current_workspace
from billing import stripe_sync, webhooks
from billing.models import Plan, month_start, next_month_start
from billing.quota import limits_for, used_images
from upscaler_site.api import ValidationFailed, ok

logger = logging.getLogger(__name__)

MANAGERS = (Membership.Role.OWNER, Membership.Role.ADMIN)


def can_manage_billing(user: User, workspace: Workspace) -> bool:
    """Owners and admins manage a workspace's plan and payment details."""
    return user.role_in(workspace) in MANAGERS


def _urls(request: HttpRequest) -> dict[str, str]:
    """Absolute URLs Stripe sends the user back to."""
    return {
        "success_url": request.build_absolute_uri(reverse("billing_success")) + "?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": request.build_absolute_uri(reverse("billing_cancel")),
        "return_url": request.build_absolute_uri(reverse("billing")),
    }


def start_checkout(request: HttpRequest, user: User, workspace: Workspace, slug: str) -> str:
    """The Checkout URL for ``workspace`` to subscribe to the plan ``slug``.

    Raises:
        Plan.DoesNotExist: no such plan.
        PaymentsNotConfigured, BillingError, stripe.StripeError: see :mod:`billing.stripe_sync`.
    """
    plan = Plan.objects.get(slug=slug)
    urls = _urls(request)
    return stripe_sync.create_checkout_session(workspace, plan, urls["success_url"], urls["cancel_url"], user.email)


# --- Pages ----------------------------------------------------------------------------------------------


@login_required
@require_GET
def billing_page(request: HttpRequest) -> HttpResponse:
    """The current plan, this month's usage, the plans to upgrade to and the billing portal."""
    workspace = current_workspace(request)
    limits = limits_for(workspace)
    used = used_images(workspace)
    limit = limits.images_per_month
    context = {
        "workspace": workspace,
        "limits": limits,
        "subscription": limits.subscription,
        "plans": Plan.objects.all(),
        "used": used,
        "limit": limit,
        "percentage": min(round(100 * used / limit), 100) if limit else 100,
        "period_start": month_start(),
        "resets_at": next_month_start(),
        "payments_configured": stripe_sync.is_configured(),
        "can_manage": can_manage_billing(request.user, workspace),
        "has_customer": bool(limits.subscription and limits.subscription.stripe_customer_id),
    }
    return render(request, "billing/billing.html", context)


def _manager_workspace(request: HttpRequest) -> Workspace:
    workspace = current_workspace(request)
    if not can_manage_billing(request.user, workspace):
        raise PermissionDenied("Only the owner and admins manage billing.")
    return workspace


@login_required
@require_POST
def checkout(request: HttpRequest) -> HttpResponse:
    """Send an owner or admin to Stripe Checkout for the chosen plan."""
    workspace = _manager_workspace(request)
    get_object_or_404(Plan, slug=request.POST.get("plan", ""))
    try:
        return redirect(start_checkout(request, request.user, workspace, request.POST["plan"]))
    except (stripe_sync.PaymentsNotConfigured, stripe_sync.BillingError) as exc:
        messages.error(request, str(exc))
    except stripe.StripeError:
        logger.exception("Stripe Checkout failed for workspace %s", workspace.pk)
        messages.error(request, "The payment provider could not be reached. Please try again.")
    return redirect("billing")


@login_required
@require_POST
def portal(request: HttpRequest) -> HttpResponse:
    """Send an owner or admin to the Stripe Billing Portal (payment method, invoices, cancellation)."""
    workspace = _manager_workspace(request)
    try:
        return redirect(stripe_sync.create_portal_session(workspace, _urls(request)["return_url"]))
    except (stripe_sync.PaymentsNotConfigured, stripe_sync.BillingError) as exc:
        messages.error(request, str(exc))
    except stripe.StripeError:
        logger.exception("Stripe Billing Portal failed for workspace %s", workspace.pk)
        messages.error(request, "The payment provider could not be reached. Please try again.")
    return redirect("billing")


@login_required
@require_GET
def success(request: HttpRequest) -> HttpResponse:
    """Back from a completed Checkout: the plan changes once Stripe's webhook arrives."""
    return render(request, "billing/success.html", {"workspace": current_workspace(request)})


@login_required
@require_GET
def cancel(request: HttpRequest) -> HttpResponse:
    """Back from an abandoned Checkout: nothing was charged."""
    return render(request, "billing/cancel.html", {"workspace": current_workspace(request)})


@csrf_exempt
@require_POST
def webhook(request: HttpRequest) -> HttpResponse:
    """``POST /billing/webhook``: Stripe's events, signature verified; 400 for a bad one."""
    try:
        event = webhooks.verify(request.body, request.headers.get("Stripe-Signature", ""))
    except webhooks.BadWebhook as exc:
        return HttpResponseBadRequest(str(exc))
    return JsonResponse({"received": True, "result": webhooks.process(event)})


# --- API ------------------------------------------------------------------------------------------------


class PaymentsUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Payments are not configured on this server."


class PaymentProviderError(APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "The payment provider could not be reached. Please try again."


def _api_manager_workspace(request: Request) -> Workspace:
    workspace = request_workspace(request)
    if not can_manage_billing(request.user, workspace):
        raise ApiPermissionDenied("Only the owner and admins manage billing.")
    return workspace


def _call_stripe(func, *args) -> str:
    """Run a :mod:`billing.stripe_sync` call, turning its errors into API errors."""
    try:
        return func(*args)
    except stripe_sync.PaymentsNotConfigured as exc:
        raise PaymentsUnavailable(str(exc)) from None
    except stripe_sync.BillingError as exc:
        raise ValidationFailed(str(exc)) from None
    except stripe.StripeError:
        logger.exception("Stripe call %s failed", func.__name__)
        raise PaymentProviderError() from None


class CheckoutApiView(APIView):
    """``POST /api/billing/checkout {plan: slug}``: a Stripe Checkout URL (owner or admin)."""

    required_abilities = {"POST": Ability.USER_READ}

    def post(self, request: Request) -> Response:
        workspace = _api_manager_workspace(request)
        slug = str(request.data.get("plan", ""))
        if not Plan.objects.filter(slug=slug).exists():
            raise ValidationFailed({"plan": ["Unknown plan."]})
        url = _call_stripe(start_checkout, request._request, request.user, workspace, slug)
        return ok({"url": url})


class PortalApiView(APIView):
    """``POST /api/billing/portal``: a Stripe Billing Portal URL (owner or admin)."""

    required_abilities = {"POST": Ability.USER_READ}

    def post(self, request: Request) -> Response:
        workspace = _api_manager_workspace(request)
        url = _call_stripe(stripe_sync.create_portal_session, workspace, _urls(request._request)["return_url"])
        return ok({"url": url})
