"""Plan limits in the API: quota checks and headers, and the usage and subscription endpoints."""

from __future__ import annotations

from datetime import date

from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Ability
from accounts.permissions import request_workspace
from billing.models import Plan, Subscription, month_start, next_month_start
from billing.quota import Limits, QuotaExceeded, limits_for, reserve_images, used_images
from upscaler_site.api import ok


def plan_limits(request: Request) -> Limits:
    """The request workspace's limits (cached on the request); 403 when its plan cannot use the API.

    Raises:
        PermissionDenied: the plan has no API access, or the subscription has expired.
    """
    limits = getattr(request, "_plan_limits", None)
    if limits is None:
        limits = limits_for(request_workspace(request))
        request._plan_limits = limits
    if not limits.api_access:
        raise PermissionDenied(f"The {limits.plan.name} plan does not include API access.")
    if limits.subscription and limits.subscription.is_expired and not limits.subscription.ends_at:
        raise PermissionDenied("Your subscription has expired: update your payment method on the billing page.")
    return limits


def check_scale(limits: Limits, factor: float) -> None:
    """403 when the requested output is more than the plan's maximum scale factor."""
    if factor > limits.max_scale + 1e-9:
        raise PermissionDenied(
            f"The {limits.plan.name} plan upscales at most {limits.max_scale}x; upgrade for larger scale factors."
        )


def reserve_or_deny(workspace, count: int, limits: Limits) -> date:
    """Count images against the quota, or 403 saying how many are left and when it resets."""
    try:
        return reserve_images(workspace, count, limits.images_per_month)
    except QuotaExceeded as exc:
        raise PermissionDenied(str(exc)) from None


class QuotaHeadersMixin:
    """Send ``X-RateLimit-Limit`` (the monthly image quota) and ``X-RateLimit-Remaining``."""

    def finalize_response(self, request: Request, response: Response, *args, **kwargs) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        if getattr(request, "auth", None) is not None and hasattr(request.auth, "workspace"):
            limits = getattr(request, "_plan_limits", None) or limits_for(request.auth.workspace)
            used = used_images(request.auth.workspace)
            response["X-RateLimit-Limit"] = str(limits.images_per_month)
            response["X-RateLimit-Remaining"] = str(max(limits.images_per_month - used, 0))
        return response


def plan_payload(plan: Plan, limits: Limits | None = None) -> dict:
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

    def get(self, request: Request) -> Response:
        workspace = request_workspace(request)
        limits = limits_for(workspace)
        used = used_images(workspace)
        limit = limits.images_per_month
        return ok(
            {
                "plan": {"id": limits.plan.pk, "name": limits.plan.name, "slug": limits.plan.slug},
                "image_uploads": {
                    "used": used,
                    "limit": limit,
                    "remaining": max(limit - used, 0),
                    "unlimited": False,
                    "exceeded": used >= limit,
                    "percentage": round(100 * used / limit, 1) if limit else 100.0,
                    "period_start": month_start().isoformat(),
                    "resets_at": next_month_start().isoformat(),
                },
                "features": limits.plan.features,
            }
        )


class SubscriptionView(APIView):
    """``GET /api/subscription``: the workspace's subscription (null on Free) and its plan."""

    required_abilities = {"GET": Ability.USER_READ}

    def get(self, request: Request) -> Response:
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
