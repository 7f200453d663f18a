from typing import Any

from django.apps import AppConfig
from django.core.management import call_command
from django.db.models.signals import post_migrate


def create_cache_table(using: str = "default", **kwargs: Any) -> None:
    """``createcachetable`` after every ``migrate``: the embedded default cache, which holds the
    rate-limit counters, lives in the database (a no-op for Redis, and once the table exists)."""
    call_command("createcachetable", database=using, verbosity=0)


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing: plans, subscriptions and usage"

    def ready(self) -> None:
        from accounts.serializers import PROFILE_FIELDS
        from billing import signals  # noqa: F401  (cancels a deleted workspace's Stripe subscription)
        from billing.serializers import WorkspacePlanField

        # The documented name, and ours (kept for clients written against it).
        PROFILE_FIELDS["pricing_plan"] = WorkspacePlanField
        PROFILE_FIELDS["plan"] = WorkspacePlanField
        post_migrate.connect(create_cache_table, sender=self, dispatch_uid="billing.create_cache_table")
