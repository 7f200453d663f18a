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
        from accounts.api import PROFILE_SECTIONS
        from billing import signals  # noqa: F401  (cancels a deleted workspace's Stripe subscription)
        from billing.api import plan_summary

        PROFILE_SECTIONS.append(plan_summary)
        post_migrate.connect(create_cache_table, sender=self, dispatch_uid="billing.create_cache_table")
