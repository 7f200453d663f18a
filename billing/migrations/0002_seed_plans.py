"""The plans of the price list; staff edit them in the admin afterwards."""

from decimal import Decimal

from django.db import migrations

PLANS = [
    # slug, name, price, from?, requests/hour, images/month, max scale, batches
    ("free", "Free", "0", False, 100, 2, 2, False),
    ("starter", "Starter", "9", False, 500, 25, 4, False),
    ("professional", "Professional", "29", False, 2000, 250, 4, True),
    # Enterprise contracts set their own quota (1,000-12,500) on the subscription.
    ("enterprise", "Enterprise", "99", True, 10000, 1000, 16, True),
]


def seed(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    for position, (slug, name, price, minimum, per_hour, per_month, scale, batches) in enumerate(PLANS):
        Plan.objects.update_or_create(
            slug=slug,
            defaults={
                "name": name,
                "price": Decimal(price),
                "price_is_minimum": minimum,
                "requests_per_hour": per_hour,
                "images_per_month": per_month,
                "max_scale": scale,
                "batches": batches,
                "position": position,
            },
        )


def unseed(apps, schema_editor):
    apps.get_model("billing", "Plan").objects.filter(slug__in=[p[0] for p in PLANS]).delete()


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
