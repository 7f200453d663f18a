"""Django-Q2 tasks: attempt a delivery, sweep the due ones, redeliver on request. Run by the worker only."""

from __future__ import annotations

from upscaler_site import logs
from webhooks import delivery
from webhooks.models import Delivery

#: Deliveries one sweep attempts at most; the next sweep, a minute later, takes the rest.
SWEEP_LIMIT = 200


def deliver(delivery_id: str) -> str:
    """Attempt the delivery ``delivery_id`` if it is pending and due (else another worker has it)."""
    claimed = delivery.claim(delivery_id)
    if claimed is None:
        return "skipped"
    with logs.bound(request_id=claimed.request_id, webhook_id=claimed.webhook_id):
        delivery.attempt(claimed)
    return claimed.status


def deliver_due() -> int:
    """Attempt every delivery whose retry is due (scheduled every minute); how many were attempted."""
    ids = list(Delivery.objects.due().order_by("next_attempt_at").values_list("pk", flat=True)[:SWEEP_LIMIT])
    return sum(deliver(str(pk)) != "skipped" for pk in ids)


def redeliver(delivery_id: str) -> str:
    """One more attempt of a delivery, as someone asked for it, whatever its state."""
    found = Delivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if found is None:
        return "deleted"
    with logs.bound(request_id=found.request_id, webhook_id=found.webhook_id):
        delivery.attempt(found, manual=True)
    return found.status
