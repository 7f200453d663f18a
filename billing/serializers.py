"""The JSON shapes of plans, subscriptions and usage, as ``/api/usage``, ``/api/subscription`` and the
profile show them (the documented fields, and ours beside them)."""

from __future__ import annotations

from typing import Any, Literal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.models import Plan, Subscription
from billing.quota import Limits, Usage, limits_for
from upscaler_site.serializers import json_number


class PlanSummarySerializer(serializers.ModelSerializer[Plan]):
    """A plan as the profile names it: ``{id, name, slug}``."""

    class Meta:
        model = Plan
        fields = ["id", "name", "slug"]
        read_only_fields = fields


@extend_schema_field(PlanSummarySerializer)
class WorkspacePlanField(serializers.Field):
    """The profile's plan: that of the workspace the token acts on (``context["workspace"]``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, value: Any) -> dict[str, Any]:
        return dict(PlanSummarySerializer(limits_for(self.context["workspace"]).plan).data)


class PlanQuotaSerializer(serializers.Serializer[Any]):
    """A plan's limits as numbers."""

    images_per_month = serializers.IntegerField(help_text="The workspace's monthly images (a contract's own).")
    requests_per_hour = serializers.IntegerField()
    max_scale = serializers.IntegerField(help_text="The largest scale factor, within the server's maximum.")
    max_input_megapixels = serializers.FloatField()
    max_unfinished_jobs = serializers.IntegerField(help_text="Images waiting or processing at once.")
    batches = serializers.BooleanField()
    api_access = serializers.BooleanField()


class PlanSerializer(serializers.ModelSerializer[Plan]):
    """A plan: the documented ``name``, ``slug``, ``price``, ``features`` and ``limits`` (arrays of
    strings), and the same limits as numbers under ``quota``.

    ``context["limits"]`` (:class:`billing.quota.Limits`), when given, supplies the
    workspace's own monthly images and scale (an Enterprise contract's, the server's cap).
    """

    price = serializers.SerializerMethodField(help_text="US dollars per month; an integer when whole.")
    features = serializers.ListField(child=serializers.CharField(), read_only=True, help_text="e.g. api_access.")
    limits = serializers.SerializerMethodField()
    quota = serializers.SerializerMethodField()

    class Meta:
        model = Plan
        fields = ["id", "name", "slug", "price", "price_is_minimum", "features", "limits", "quota"]
        read_only_fields = fields

    def _limits(self) -> Limits | None:
        return self.context.get("limits")

    @extend_schema_field(OpenApiTypes.NUMBER)  # not oneOf integer/number: 9 is both
    def get_price(self, plan: Plan) -> int | float:
        return json_number(plan.price)

    def get_limits(self, plan: Plan) -> list[str]:
        limits = self._limits()
        return plan.describe_limits(limits.images_per_month if limits else None)

    @extend_schema_field(PlanQuotaSerializer)
    def get_quota(self, plan: Plan) -> dict[str, Any]:
        limits = self._limits()
        return {
            "images_per_month": limits.images_per_month if limits else plan.images_per_month,
            "requests_per_hour": plan.requests_per_hour,
            "max_scale": limits.max_scale if limits else plan.max_scale,
            "max_input_megapixels": plan.max_input_megapixels,
            "max_unfinished_jobs": plan.max_unfinished_jobs,
            "batches": plan.batches,
            "api_access": plan.api_access,
        }


class SubscriptionSerializer(serializers.ModelSerializer[Subscription]):
    """A subscription in the documented shape. Free's is :meth:`Subscription.implicit`: ``id`` null."""

    id = serializers.IntegerField(read_only=True, allow_null=True, help_text="null on Free (nothing to cancel).")
    type = serializers.SerializerMethodField()
    is_active = serializers.BooleanField(read_only=True)
    is_on_trial = serializers.BooleanField(read_only=True)
    is_cancelled = serializers.BooleanField(read_only=True)
    is_on_grace_period = serializers.BooleanField(read_only=True)

    class Meta:
        model = Subscription
        fields = ["id", "type", "status", "quantity", "trial_ends_at", "ends_at", "created_at", "is_active",
                  "is_on_trial", "is_cancelled", "is_on_grace_period"]  # fmt: skip
        read_only_fields = fields

    def get_type(self, subscription: Subscription) -> Literal["default"]:
        return "default"


class SubscriptionDetailsSerializer(serializers.Serializer[Any]):
    """``GET /api/subscription``: ``{subscription, plan}`` of a :class:`billing.quota.Limits` (its context)."""

    subscription = SubscriptionSerializer()
    plan = PlanSerializer()


class ImageUploadsSerializer(serializers.Serializer[Any]):
    """This month's images against the quota (a :class:`billing.quota.Usage`)."""

    used = serializers.IntegerField()
    limit = serializers.IntegerField()
    remaining = serializers.IntegerField()
    unlimited = serializers.SerializerMethodField(help_text="Always false: every plan has a quota.")
    exceeded = serializers.BooleanField(source="exhausted")
    percentage = serializers.FloatField(help_text="Of the quota used, to one decimal; above 100 after a downgrade.")
    period_start = serializers.DateField(help_text="The first day of this month (UTC).")
    resets_at = serializers.DateTimeField(help_text="When the quota resets: the next month's first midnight, UTC.")

    def get_unlimited(self, usage: Usage) -> bool:
        return False


class UsageSerializer(serializers.Serializer[Any]):
    """``GET /api/usage`` of a :class:`billing.quota.Usage`: ``plan`` is the slug and ``features`` the
    plan's switches, as documented; the whole plan is under ``plan_details``."""

    plan = serializers.CharField(source="plan.slug")
    image_uploads = ImageUploadsSerializer(source="*")
    features = serializers.ListField(source="plan.features", child=serializers.CharField())
    plan_details = PlanSerializer(source="plan")
