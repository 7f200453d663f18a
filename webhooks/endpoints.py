"""Adding, changing and disabling endpoints: what the API, the dashboard and the admin share."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Workspace
from webhooks.models import Delivery, Endpoint, EventType


def create(workspace: Workspace, data: dict[str, Any]) -> Endpoint:
    """A new endpoint of ``workspace`` from validated ``data`` (url; description, events, headers, active)."""
    return Endpoint.objects.create(
        workspace=workspace,
        url=data["url"],
        description=data.get("description", ""),
        events=data.get("events") or list(EventType.values),
        headers=data.get("headers") or {},
        active=data.get("active", True),
    )


def change(endpoint: Endpoint, data: dict[str, Any]) -> None:
    """Apply validated ``data`` (any endpoint field) to ``endpoint``; ``active`` disables or enables it."""
    with transaction.atomic():
        for name in ("url", "description", "events", "headers"):
            if name in data:
                setattr(endpoint, name, data[name])
        if data.get("active") is True:
            endpoint.active, endpoint.disabled_reason = True, ""
        endpoint.save()
        if data.get("active") is False and endpoint.active:
            disable(endpoint, "Disabled by a member of the workspace.")


def disable(endpoint: Endpoint, reason: str) -> None:
    """Stop sending to ``endpoint`` (the receiver answered 410 Gone, or a person chose to) and fail its
    pending deliveries (a redelivery still can be asked for)."""
    with transaction.atomic():
        Endpoint.objects.filter(pk=endpoint.pk).update(active=False, disabled_reason=reason[:255],
                                                       updated_at=timezone.now())  # fmt: skip
        endpoint.active, endpoint.disabled_reason = False, reason[:255]
        endpoint.deliveries.filter(status=Delivery.Status.PENDING).update(
            status=Delivery.Status.FAILED, next_attempt_at=None
        )
