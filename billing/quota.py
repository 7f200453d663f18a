"""Plan limits and the monthly image quota, counted atomically in the database.

A reservation is a single conditional ``UPDATE … SET images = images + n WHERE
images + n <= limit``: the database serialises concurrent uploads on the row, so
50 simultaneous uploads one image below the quota accept exactly one, on SQLite and
on PostgreSQL alike, with no lock held across the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.db import IntegrityError, transaction
from django.db.models import F

from billing.models import MonthlyUsage, Plan, Subscription, month_start, next_month_start


@dataclass(frozen=True)
class Limits:
    """What a workspace may do now: its plan, monthly images, hourly requests, max scale, batches."""

    plan: Plan
    subscription: Subscription | None
    images_per_month: int
    requests_per_hour: int
    max_scale: int
    batches: bool
    api_access: bool


def limits_for(workspace) -> Limits:
    """The limits in force for ``workspace``: its subscription's plan, or Free without one.

    A subscription that was cancelled and has run out counts as Free.
    """
    subscription = Subscription.objects.select_related("plan").filter(workspace=workspace).first()
    plan = subscription.plan if subscription else Plan.free()
    if subscription and subscription.ends_at and subscription.is_expired:
        plan = Plan.free()
    quota = subscription.image_quota if subscription and subscription.image_quota is not None else None
    return Limits(
        plan=plan,
        subscription=subscription,
        images_per_month=quota if quota is not None and plan == subscription.plan else plan.images_per_month,
        requests_per_hour=plan.requests_per_hour,
        max_scale=plan.max_scale,
        batches=plan.batches,
        api_access=plan.api_access,
    )


class QuotaExceeded(Exception):
    """The monthly image quota has no room for the request; the message is for the user."""

    def __init__(self, used: int, limit: int, requested: int, resets_at: datetime) -> None:
        self.used, self.limit, self.requested, self.resets_at = used, limit, requested, resets_at
        what = "this image" if requested == 1 else f"these {requested} images"
        super().__init__(
            f"Your monthly quota of {limit} images is used up ({used} used); {what} would exceed it. "
            f"It resets on {resets_at:%Y-%m-%d} at 00:00 UTC."
        )


def used_images(workspace, month: date | None = None) -> int:
    return (
        MonthlyUsage.objects.filter(workspace=workspace, month=month or month_start())
        .values_list("images", flat=True)
        .first()
        or 0
    )


def reserve_images(workspace, count: int = 1, limit: int | None = None) -> date:
    """Count ``count`` images against this month's quota, all or nothing.

    Returns the month (its first day) they were counted in, to refund later.

    Raises:
        QuotaExceeded: fewer than ``count`` images are left this month.
    """
    limit = limits_for(workspace).images_per_month if limit is None else limit
    month = month_start()
    if not MonthlyUsage.objects.filter(workspace=workspace, month=month).exists():
        try:
            with transaction.atomic():
                MonthlyUsage.objects.create(workspace=workspace, month=month)
        except IntegrityError:
            pass  # a concurrent request created it first
    counted = MonthlyUsage.objects.filter(workspace=workspace, month=month, images__lte=limit - count).update(
        images=F("images") + count
    )
    if not counted:
        raise QuotaExceeded(used_images(workspace, month), limit, count, next_month_start())
    return month


def release_images(workspace_id: int, month: date, count: int = 1) -> None:
    """Give back ``count`` images of ``month`` (failed or cancelled processing)."""
    MonthlyUsage.objects.filter(workspace_id=workspace_id, month=month, images__gte=count).update(
        images=F("images") - count
    )


@dataclass(frozen=True)
class Usage:
    """This month's images against the workspace's quota: what the dashboard's usage meter shows."""

    plan: Plan
    used: int
    limit: int
    resets_at: datetime

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    @property
    def percentage(self) -> int:
        """Share of the quota used, 0-100 (100 for a zero quota)."""
        return min(round(100 * self.used / self.limit), 100) if self.limit else 100

    @property
    def exhausted(self) -> bool:
        return self.used >= self.limit


def usage_for(workspace, limits: Limits | None = None) -> Usage:
    """``workspace``'s image usage this month, under ``limits`` (default: its current ones)."""
    limits = limits or limits_for(workspace)
    return Usage(limits.plan, used_images(workspace), limits.images_per_month, next_month_start())
