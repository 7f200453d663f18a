"""Plans, each workspace's subscription to one, and monthly image usage."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    from accounts.models import Workspace


class Plan(models.Model):
    """What a workspace may do: API requests per hour, images per month, scale, image and job sizes, batches.

    Seeded by a data migration (Free, Starter, Professional, Enterprise) and editable
    by staff in the admin. ``price`` is in US dollars per month; for Enterprise it is
    the starting price (``price_is_minimum``).
    """

    name = models.CharField(max_length=50)
    slug = models.SlugField(unique=True)
    price = models.DecimalField(max_digits=8, decimal_places=2, help_text="US dollars per month.")
    price_is_minimum = models.BooleanField(default=False, help_text="Shown as 'from $price' (contracts).")
    requests_per_hour = models.PositiveIntegerField()
    images_per_month = models.PositiveIntegerField(help_text="Default monthly image quota.")
    max_scale = models.PositiveSmallIntegerField(default=2)
    max_input_megapixels = models.FloatField(
        default=4, help_text="Largest image accepted, in megapixels (within UPSCALE_MAX_OUTPUT_MEGAPIXELS)."
    )
    max_network_megapixels = models.FloatField(
        default=16,
        help_text="Largest image the network may produce for one job, in megapixels: a x2 request to a x4-only "
        "model computes x4 first. Bounds a job's memory and time.",
    )
    max_unfinished_jobs = models.PositiveIntegerField(
        default=2, help_text="Images of a workspace waiting or processing at once; more is refused with 429."
    )
    batches = models.BooleanField(default=False)
    api_access = models.BooleanField(default=True)
    priority_support = models.BooleanField(default=False, help_text="Support answers this plan's tickets first.")
    retention_days = models.PositiveSmallIntegerField(
        default=1, help_text="Days an image's files are kept after it finished; then it expires and they are deleted."
    )
    stripe_price_id = models.CharField(max_length=100, blank=True, help_text="Stripe Price for Checkout.")
    position = models.PositiveSmallIntegerField(default=0)

    FREE = "free"

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def free(cls) -> Plan:
        return cls.objects.get(slug=cls.FREE)

    #: The plan's switches, by the names the API lists them under (``features``).
    FEATURES = ("api_access", "batches", "priority_support")

    @property
    def features(self) -> list[str]:
        """The names of the switches this plan has on, e.g. ``["api_access", "priority_support"]``."""
        return [name for name in self.FEATURES if getattr(self, name)]

    def describe_limits(self, images_per_month: int | None = None) -> list[str]:
        """The plan's limits as sentences, for the pricing cards and ``plan.limits`` in the API.

        ``images_per_month`` overrides the plan's quota (an Enterprise contract's).
        """
        images = self.images_per_month if images_per_month is None else images_per_month
        return [
            f"{images:,} images per month",
            f"{self.requests_per_hour:,} API requests per hour",
            f"Scale factors up to {self.max_scale}x",
            f"Images up to {self.max_input_megapixels:g} megapixels",
            f"{self.max_unfinished_jobs} images processing at once",
        ]

    @property
    def limit_descriptions(self) -> list[str]:
        return self.describe_limits()


class Subscription(models.Model):
    """A workspace's plan. A workspace without one is on Free.

    Kept in step with Stripe by the webhooks; staff may also assign a plan in the
    admin (e.g. an Enterprise contract with its own ``image_quota``).
    """

    class Status(models.TextChoices):
        ACTIVE = "active"
        TRIALING = "trialing"
        PAST_DUE = "past_due"
        CANCELED = "canceled"
        UNPAID = "unpaid"
        INCOMPLETE = "incomplete"

    workspace = models.OneToOneField("accounts.Workspace", on_delete=models.CASCADE, related_name="subscription")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    quantity = models.PositiveIntegerField(default=1)
    image_quota = models.PositiveIntegerField(
        null=True, blank=True, help_text="Overrides the plan's monthly images (Enterprise contracts)."
    )
    trial_ends_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True, help_text="When a cancelled subscription stops.")
    grace_until = models.DateTimeField(null=True, blank=True, help_text="Failed payment: service continues until.")
    stripe_customer_id = models.CharField(max_length=100, blank=True)
    stripe_subscription_id = models.CharField(max_length=100, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.workspace} on {self.plan} ({self.status})"

    @classmethod
    def implicit(cls, workspace: Workspace) -> Subscription:
        """What a workspace without a subscription has: Free, active, never ending. Not saved (``pk`` None)."""
        return cls(workspace=workspace, plan=Plan.free(), created_at=workspace.created_at)

    @property
    def is_on_trial(self) -> bool:
        return self.status == self.Status.TRIALING and self.trial_ends_at is not None and self.trial_ends_at > now()

    @property
    def is_cancelled(self) -> bool:
        return self.ends_at is not None or self.status == self.Status.CANCELED

    @property
    def is_on_grace_period(self) -> bool:
        """Cancelled but paid until ``ends_at``, or a failed payment still inside its grace period."""
        current = now()
        if self.ends_at is not None and self.ends_at > current:
            return True
        return self.status == self.Status.PAST_DUE and self.grace_until is not None and self.grace_until > current

    @property
    def is_expired(self) -> bool:
        """Past its end, unpaid, or past due beyond the grace period."""
        current = now()
        if self.ends_at is not None and self.ends_at <= current:
            return True
        if self.status == self.Status.UNPAID:
            return True
        return self.status == self.Status.PAST_DUE and (self.grace_until is None or self.grace_until <= current)

    @property
    def is_active(self) -> bool:
        return not self.is_expired and self.status in (self.Status.ACTIVE, self.Status.TRIALING, self.Status.PAST_DUE)


class MonthlyUsage(models.Model):
    """Images a workspace uploaded in one calendar month (UTC); ``month`` is its first day."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="usage")
    month = models.DateField()
    images = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-month"]
        constraints = [models.UniqueConstraint(fields=["workspace", "month"], name="one_usage_row_per_month")]

    def __str__(self) -> str:
        return f"{self.workspace} {self.month:%Y-%m}: {self.images}"


def now() -> datetime:
    return timezone.now()


def month_start(moment: datetime | None = None) -> date:
    """The first day of the calendar month (UTC) of ``moment`` (default: now)."""
    moment = (moment or now()).astimezone(UTC)
    return date(moment.year, moment.month, 1)


def next_month_start(moment: datetime | None = None) -> datetime:
    """Midnight UTC on the first day of the next month: when the quota resets."""
    first = month_start(moment)
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return datetime(following.year, following.month, 1, tzinfo=UTC)


class WebhookEvent(models.Model):
    """A Stripe webhook event already processed: a replayed delivery (same ``event_id``) is skipped."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"
