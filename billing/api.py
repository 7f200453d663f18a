"""The billing API: usage, the subscription, and Stripe Checkout and Billing Portal sessions."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import stripe
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.exceptions import PermissionDenied as ApiPermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Ability, Workspace
from accounts.permissions import request_workspace
from accounts.requests import ApiRequest, TokenRequest
from billing import checkout, examples, stripe_sync
from billing.models import Plan, Subscription
from billing.quota import limits_for, usage_for, used_images
from billing.serializers import SubscriptionDetailsSerializer, UsageSerializer
from upscaler_site.api import ValidationFailed, ok
from upscaler_site.openapi import envelope, error
from upscaler_site.serializers import RequestSerializer, one_of

logger = logging.getLogger(__name__)


class QuotaHeadersMixin:
    """For API views: send ``X-RateLimit-Limit`` (the monthly image quota) and ``X-RateLimit-Remaining``."""

    #: The headers, as the OpenAPI schema lists them (:class:`upscaler_site.openapi.AutoSchema`).
    openapi_response_headers = [
        OpenApiParameter("X-RateLimit-Limit", int, OpenApiParameter.HEADER, response=True,
                         description="The workspace's monthly image quota (with credentials only)."),
        OpenApiParameter("X-RateLimit-Remaining", int, OpenApiParameter.HEADER, response=True,
                         description="Images left this month (with credentials only)."),
    ]  # fmt: skip

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        workspace = getattr(getattr(request, "auth", None), "workspace", None)
        if workspace is not None:
            limit = limits_for(workspace).images_per_month
            response["X-RateLimit-Limit"] = str(limit)
            response["X-RateLimit-Remaining"] = str(max(limit - used_images(workspace), 0))
        return response


class UsageView(APIView):
    """``GET /api/usage``: this month's images against the quota, and the plan's features."""

    required_abilities = {"GET": Ability.USER_READ}

    @extend_schema(
        summary="Usage this month",
        description="This month's images against the plan's quota, and the plan's features.",
        responses=envelope("UsageResponse", UsageSerializer()),
        examples=[examples.USAGE],
    )
    def get(self, request: ApiRequest) -> Response:
        workspace = request_workspace(request)
        limits = limits_for(workspace)
        usage = usage_for(workspace, limits)
        return ok(UsageSerializer(usage, context={"limits": limits}).data, "Usage statistics retrieved successfully")


class SubscriptionView(APIView):
    """``GET /api/subscription``: the workspace's subscription (an object on Free too) and its plan."""

    required_abilities = {"GET": Ability.USER_READ}

    @extend_schema(
        summary="Subscription and plan",
        description="The workspace's subscription and plan. On Free, which has no subscription to "
        "cancel, `subscription` is an active `default` one whose `id` is null.",
        responses=envelope("SubscriptionResponse", SubscriptionDetailsSerializer()),
        examples=[examples.SUBSCRIPTION],
    )
    def get(self, request: ApiRequest) -> Response:
        workspace = request_workspace(request)
        limits = limits_for(workspace)
        subscription = limits.subscription or Subscription.implicit(workspace)
        data = SubscriptionDetailsSerializer({"subscription": subscription, "plan": limits.plan},
                                             context={"limits": limits}).data  # fmt: skip
        return ok(data, "Subscription details retrieved successfully")


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


class CheckoutRequestSerializer(RequestSerializer):
    plan = serializers.CharField(help_text="The slug of the plan to subscribe to, e.g. professional.")

    def validate_plan(self, slug: str) -> str:
        if not Plan.objects.filter(slug=slug).exists():
            raise serializers.ValidationError(
                f"The plan must be {one_of(Plan.objects.values_list('slug', flat=True))}."
            )
        return slug


STRIPE_ERRORS = {
    502: error("Stripe could not be reached; try again."),
    503: error("Payments are not configured on this server."),
}
REDIRECT = envelope("RedirectResponse", inline_serializer("Redirect", {"url": serializers.URLField()}))


class CheckoutApiView(APIView):
    """``POST /api/billing/checkout {plan: slug}``: a Stripe Checkout URL (owner or admin, ``billing:write``)."""

    required_abilities = {"POST": Ability.BILLING_WRITE}

    @extend_schema(
        summary="Start a Stripe Checkout",
        description="A Stripe Checkout URL to subscribe the workspace to a plan; owners and admins only.",
        request=CheckoutRequestSerializer,
        responses={200: REDIRECT, **STRIPE_ERRORS},
    )
    def post(self, request: TokenRequest) -> Response:
        workspace = _manager_workspace(request)
        serializer = CheckoutRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        slug = serializer.validated_data["plan"]
        url = _call_stripe(checkout.start_checkout, request._request, request.user, workspace, slug)
        return ok({"url": url})


class PortalApiView(APIView):
    """``POST /api/billing/portal``: a Stripe Billing Portal URL (owner or admin, ``billing:write``)."""

    required_abilities = {"POST": Ability.BILLING_WRITE}

    @extend_schema(
        summary="Open the Stripe billing portal",
        description="A Stripe Billing Portal URL (invoices, payment method, cancellation); owners and admins only.",
        request=None,
        responses={200: REDIRECT, **STRIPE_ERRORS},
    )
    def post(self, request: TokenRequest) -> Response:
        workspace = _manager_workspace(request)
        url = _call_stripe(checkout.start_portal, request._request, workspace)
        return ok({"url": url})
