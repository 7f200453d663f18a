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
    return {
        "id": plan.pk,
        "name": plan.name,
        "slug": plan.slug,
        "price": float(plan.price),
        "price_is_minimum": plan.price_is_minimum,
        "features": plan.features,
        "limits": {
            "requests_per_hour": plan.requests_per_hour,
            "images_per_month": limits.images_per_month if limits else plan.images_per_month,
            "max_scale": plan.max_scale,
        },
    }


class UsageView(APIView):
    """``GET /api/usage``: this month's images against the quota, and the plan's features."""

    required_abilities = {"GET": Ability.USER_READ}

    def get(self, request: ApiRequest) -> Response:
        usage = usage_for(request_workspace(request))
        return ok(
            {
                "plan": {"id": usage.plan.pk, "name": usage.plan.name, "slug": usage.plan.slug},
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
            }
        )


class SubscriptionView(APIView):
    """``GET /api/subscription``: the workspace's subscription (null on Free) and its plan."""

    required_abilities = {"GET": Ability.USER_READ}

    def get(self, request: ApiRequest) -> Response:
        limits = limits_for(request_workspace(request))
        sub: Subscription | None = limits.subscription
        data = None
        if sub is not None:
            data = {
                "id": sub.pk,
                "type": "default",
                "status": sub.status,
                "quantity": sub.quantity,
                "trial_ends_at": sub.trial_ends_at,
                "ends_at": sub.ends_at,
                "created_at": sub.created_at,
                "is_active": sub.is_active,
                "is_on_trial": sub.is_on_trial,
                "is_cancelled": sub.is_cancelled,
                "is_on_grace_period": sub.is_on_grace_period,
            }
        return ok({"subscription": data, "plan": plan_payload(limits.plan, limits)})


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
