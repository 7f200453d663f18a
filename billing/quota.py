"""Plan limits and the monthly image quota, counted atomically in the database.

A reservation is a single conditional ``UPDATE … SET images = images + n WHERE
images + n <= limit``: the database serialises concurrent uploads on the row, so
50 simultaneous uploads one image below the quota accept exactly one, on SQLite and
on PostgreSQL alike, with no lock held across the request.

Refusals are :class:`PlanLimit` errors, a kind of Django's ``PermissionDenied``: the
API answers them 403 in its envelope and the pages with their 403 page, with the
message written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import F

from accounts.models import Workspace
from billing.models import MonthlyUsage, Plan, Subscription, month_start, next_month_start


class PlanLimit(PermissionDenied):
    """The workspace's plan does not allow the request; the message says why, for the user."""


class QuotaExceeded(PlanLimit):
    """The monthly image quota has no room for the request."""

    def __init__(self, used: int, limit: int, requested: int, resets_at: datetime) -> None:
        self.used, self.limit, self.requested, self.resets_at = used, limit, requested, resets_at
        what = "this image" if requested == 1 else f"these {requested} images"
        super().__init__(
            f"Your monthly quota of {limit} images is used up ({used} used); {what} would exceed it. "
            f"It resets on {resets_at:%Y-%m-%d} at 00:00 UTC."
        )


class TooManyUnfinished(PlanLimit):
    """The workspace already has as many images waiting or processing as its plan allows (answered 429)."""

    status_code = 429

    def __init__(self, unfinished: int, limit: int, plan: Plan) -> None:
        super().__init__(
            f"{unfinished} image(s) of this workspace are still waiting or processing; the {plan.name} plan "
            f"allows {limit} at once. Wait for them to finish, then upload again."
        )


@dataclass(frozen=True)
class Limits:
    """What a workspace may do now: its plan, monthly images, hourly requests, max scale, batches."""

    plan: Plan
    subscription: Subscription | None
    images_per_month: int
    requests_per_hour: int
    batches: bool
    api_access: bool

    @property
    def max_scale(self) -> int:
        """The largest scale factor allowed: the plan's, within the server's ``UPSCALE_MAX_SCALE``."""
        return min(self.plan.max_scale, settings.UPSCALE_MAX_SCALE)

    @property
    def max_input_pixels(self) -> int:
        """The largest image accepted, width x height: the plan's, within ``UPSCALE_MAX_OUTPUT_MEGAPIXELS``."""
        return int(min(self.plan.max_input_megapixels, settings.UPSCALE_MAX_OUTPUT_MEGAPIXELS) * 1_000_000)

    @property
    def max_network_pixels(self) -> int:
        """The largest image the network may produce for one job (``Plan.max_network_megapixels``), in pixels."""
        return int(self.plan.max_network_megapixels * 1_000_000)

    def check_unfinished(self, unfinished: int, adding: int) -> None:
        """Whether ``adding`` more images fit next to the ``unfinished`` ones (waiting or processing).

        Raises:
            TooManyUnfinished: over ``Plan.max_unfinished_jobs``.
        """
        if unfinished + adding > self.plan.max_unfinished_jobs:
            raise TooManyUnfinished(unfinished, self.plan.max_unfinished_jobs, self.plan)

    def check_submit(self, factor: float, *, batch: bool = False) -> None:
        """Whether images upscaled by ``factor`` may be submitted, as a ``batch`` or not.

        The quota is checked when the images are counted (:func:`reserve_images`).

        Raises:
            PlanLimit: the plan has no API access, the subscription has lapsed, the
                factor is beyond the plan's maximum scale, or batches are not in the plan.
        """
        if not self.api_access:
            raise PlanLimit(f"The {self.plan.name} plan does not include API access.")
        if self.subscription and self.subscription.is_expired and not self.subscription.ends_at:
            raise PlanLimit("Your subscription has expired: update your payment method on the billing page.")
        if batch and not self.batches:
            raise PlanLimit(
                f"The {self.plan.name} plan does not include batches; upgrade to Professional or Enterprise, "
                "or upload the images one by one."
            )
        if factor > self.plan.max_scale + 1e-9:
            raise PlanLimit(
                f"The {self.plan.name} plan upscales at most {self.plan.max_scale}x; upgrade for larger scale factors."
            )


def limits_for(workspace: Workspace) -> Limits:
    """The limits in force for ``workspace``: its subscription's plan while it is active, else Free.

    Only an active subscription grants its plan (``Subscription.is_active``: active,
    trialing, or past due within the grace period). One whose first payment has not been
    made (``incomplete``), that ended, or that is ``unpaid`` counts as Free.
    """
    subscription = Subscription.objects.select_related("plan").filter(workspace=workspace).first()
    plan = subscription.plan if subscription and subscription.is_active else Plan.free()
    quota = subscription.image_quota if subscription and subscription.image_quota is not None else None
    return Limits(
        plan=plan,
        subscription=subscription,
        images_per_month=quota
        if quota is not None and subscription and plan == subscription.plan
        else plan.images_per_month,
        requests_per_hour=plan.requests_per_hour,
        batches=plan.batches,
        api_access=plan.api_access,
    )


def used_images(workspace: Workspace | int, month: date | None = None) -> int:
    """Images counted against ``workspace``'s quota in ``month`` (default: this month)."""
    return (
        MonthlyUsage.objects.filter(workspace=workspace, month=month or month_start())
        .values_list("images", flat=True)
        .first()
        or 0
    )


def reserve_images(workspace: Workspace, count: int = 1, limit: int | None = None) -> date:
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
    """This month's images against the workspace's quota: the usage meter, the billing page and ``/api/usage``."""

    plan: Plan
    used: int
    limit: int
    period_start: date
    resets_at: datetime

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    @property
    def percentage(self) -> float:
        """Share of the quota used, in percent to one decimal (100.0 for a zero quota; above 100 after a
        downgrade)."""
        return round(100 * self.used / self.limit, 1) if self.limit else 100.0

    @property
    def exhausted(self) -> bool:
        return self.used >= self.limit


def usage_for(workspace: Workspace, limits: Limits | None = None) -> Usage:
    """``workspace``'s image usage this month, under ``limits`` (default: its current ones)."""
    limits = limits or limits_for(workspace)
    return Usage(limits.plan, used_images(workspace), limits.images_per_month, month_start(), next_month_start())
