"""A workspace deleted (on its own, or with its owner's account) stops paying: its Stripe subscription is cancelled."""

from typing import Any

from django.db.models.signals import pre_delete
from django.dispatch import receiver

from accounts.models import Workspace
from billing import stripe_sync
from billing.models import Subscription


@receiver(pre_delete, sender=Workspace, dispatch_uid="billing.cancel_stripe_subscription")
def cancel_stripe_subscription(sender: type[Workspace], instance: Workspace, **kwargs: Any) -> None:
    for subscription in Subscription.objects.filter(workspace=instance).exclude(stripe_subscription_id=""):
        stripe_sync.cancel_for_deleted_workspace(subscription)
