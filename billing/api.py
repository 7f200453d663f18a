"""The billing API: usage, the subscription, and Stripe Checkout and Billing Portal sessions."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import stripe
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.exceptions import PermissionDenied as ApiPermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Ability, Workspace
from accounts.permissions import request_workspace
from accounts.requests import ApiRequest, TokenRequest
from billing import checkout, stripe_sync
from billing.models import Plan, Subscription
from billing.quota import Limits, limits_for, usage_for
from upscaler_site.api import ValidationFailed, ok

logger = logging.getLogger(__name__)


def plan_summary(workspace: Workspace) -> dict[str, Any]:
    """The plan ``workspace`` is on, as the profile shows it: ``pricing_plan`` (the documented name) and
    ``plan`` (ours, kept for clients written against it)."""
    plan = limits_for(workspace).plan
    summary = {"id": plan.pk, "name": plan.name, "slug": plan.slug}
    return {"pricing_plan": summary, "plan": summary}


def plan_payload(plan: Plan, limits: Limits | None = None) -> dict[str, Any]:
    """A plan as ``/api/subscription`` and ``/api/usage`` show it.

    The documented fields (``name``, ``slug``, ``price``, ``features`` and ``limits`` as
    arrays of strings), and the same limits as numbers under ``quota``. ``limits``, when
    given, supplies the workspace's own monthly images (an Enterprise contract's).
    """
    images_per_month = limits.images_per_month if limits else plan.images_per_month
    price = plan.price
    return {
        "id": plan.pk,
        "name": plan.name,
        "slug": plan.slug,
        "price": int(price) if price == price.to_integral_value() else float(price),
        "price_is_minimum": plan.price_is_minimum,
        "features": plan.features,
        "limits": plan.describe_limits(images_per_month),
        "quota": {
            "images_per_month": images_per_month,
            "requests_per_hour": plan.requests_per_hour,
            "max_scale": limits.max_scale if limits else plan.max_scale,
            "max_input_megapixels": plan.max_input_megapixels,
            "max_unfinished_jobs": plan.max_unfinished_jobs,
            "batches": plan.batches,
            "api_access": plan.api_access,
        },
    }


class UsageView(APIView):
    """``GET /api/usage``: this month's images against the quota, and the plan's features.

    ``plan`` is the plan's slug and ``features`` its switches, as documented; the whole
    plan is under ``plan_details``.
    """

    required_abilities = {"GET": Ability.USER_READ}

    def get(self, request: ApiRequest) -> Response:
        workspace = request_workspace(request)
        limits = limits_for(workspace)
        usage = usage_for(workspace, limits)
        return ok(
            {
                "plan": usage.plan.slug,
                "image_uploads": {
                    "used": usage.used,
                    "limit": usage.limit,
                    "remaining": usage.remaining,
                    "unlimited": False,
                    "exceeded": usage.exhausted,
                    "percentage": usage.percentage,
                    "period_start": usage.period_start.isoformat(),
                    "resets_at": usage.resets_at.isoformat(),
                },
                "features": usage.plan.features,
                "plan_details": plan_payload(usage.plan, limits),
            },
            "Usage statistics retrieved successfully",
        )


def subscription_payload(workspace: Workspace, subscription: Subscription | None) -> dict[str, Any]:
    """The workspace's subscription in the documented shape; Free, having no stored row, as a
    lasting active ``default`` subscription with a null ``id``."""
    if subscription is None:
        return {
            "id": None,
            "type": "default",
            "status": Subscription.Status.ACTIVE.value,
            "quantity": 1,
            "trial_ends_at": None,
            "ends_at": None,
            "created_at": workspace.created_at,
            "is_active": True,
            "is_on_trial": False,
            "is_cancelled": False,
            "is_on_grace_period": False,
        }
    return {
        "id": subscription.pk,
        "type": "default",
        "status": subscription.status,
        "quantity": subscription.quantity,
        "trial_ends_at": subscription.trial_ends_at,
        "ends_at": subscription.ends_at,
        "created_at": subscription.created_at,
        "is_active": subscription.is_active,
        "is_on_trial": subscription.is_on_trial,
        "is_cancelled": subscription.is_cancelled,
        "is_on_grace_period": subscription.is_on_grace_period,
    }


class SubscriptionView(APIView):
    """``GET /api/subscription``: the workspace's subscription (an object on Free too) and its plan."""

    required_abilities = {"GET": Ability.USER_READ}

    def get(self, request: ApiRequest) -> Response:
        workspace = request_workspace(request)
        limits = limits_for(workspace)
        return ok(
            {"subscription": subscription_payload(workspace, limits.subscription),
             "plan": plan_payload(limits.plan, limits)},
            "Subscription details retrieved successfully",
        )  # fmt: skip


class PaymentsUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Payments are not configured on this server."


class PaymentProviderError(APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "The payment provider could not be reached. Please try again."


def _manager_workspace(request: TokenRequest) -> Workspace:
    workspace = request_workspace(request)
    if not request.user.manages(workspace):
        raise ApiPermissionDenied(checkout.MANAGERS_ONLY)
    return workspace


def _call_stripe(func: Callable[..., str], *args: Any) -> str:
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
    """``POST /api/billing/checkout {plan: slug}``: a Stripe Checkout URL (owner or admin, ``billing:write``)."""

    required_abilities = {"POST": Ability.BILLING_WRITE}

    def post(self, request: TokenRequest) -> Response:
        workspace = _manager_workspace(request)
        slug = str(request.data.get("plan", "")) if isinstance(request.data, dict) else ""
        if not Plan.objects.filter(slug=slug).exists():
            raise ValidationFailed({"plan": ["Unknown plan."]})
        url = _call_stripe(checkout.start_checkout, request._request, request.user, workspace, slug)
        return ok({"url": url})


class PortalApiView(APIView):
    """``POST /api/billing/portal``: a Stripe Billing Portal URL (owner or admin, ``billing:write``)."""

    required_abilities = {"POST": Ability.BILLING_WRITE}

    def post(self, request: TokenRequest) -> Response:
        workspace = _manager_workspace(request)
        url = _call_stripe(checkout.start_portal, request._request, workspace)
        return ok({"url": url})
