"""Webhook events from the lifecycle: an image or a batch finished, so its receivers get a delivery.

The receivers follow :data:`images.jobs.job_finished` and :data:`batches.jobs.batch_finished`
inside the transaction of the move, so a delivery exists if and only if the move
committed; each is sent by the worker (:func:`webhooks.tasks.deliver`) once it has.

Receivers of an event: the workspace's active endpoints subscribed to it, and the
``webhook_url`` of the request that made the image (a single upload) or the batch.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import receiver
from django_q.tasks import async_task

from batches.jobs import batch_finished
from batches.models import Batch
from images import jobs
from images.models import Image
from webhooks import payloads
from webhooks.models import Delivery, Endpoint, EventType

#: The Django-Q2 tasks that make a delivery's next attempt, and a manual one.
DELIVER_TASK = "webhooks.tasks.deliver"
REDELIVER_TASK = "webhooks.tasks.redeliver"


def queue(deliveries: list[Delivery], task: str = DELIVER_TASK) -> None:
    """Have the worker attempt ``deliveries`` once the current transaction commits.

    A broker that is down loses nothing: the deliveries are due now, and the periodic
    sweep (:func:`webhooks.tasks.deliver_due`) sends them.
    """
    ids = [str(d.pk) for d in deliveries]

    def send() -> None:
        for pk in ids:
            try:
                async_task(task, pk, task_name=f"webhook-{pk}")
            except Exception:  # the sweep will find it due
                return

    if ids:
        transaction.on_commit(send)


def _record(
    event: str,
    workspace_id: int,
    snapshot: dict[str, Any],
    *,
    image: Image | None = None,
    batch: Batch | None = None,
    webhook_url: str = "",
    webhook_headers: dict[str, str] | None = None,
) -> list[Delivery]:
    subject = {"image_id": image.pk if image else None, "batch_id": batch.pk if batch else None,
               "request_id": _request_id(image, batch)}  # fmt: skip
    deliveries = [
        Delivery(
            workspace_id=workspace_id,
            endpoint=endpoint,
            url=endpoint.url,
            event_type=event,
            snapshot=snapshot,
            **subject,
        )
        for endpoint in Endpoint.objects.subscribed(workspace_id, event)
    ]
    if webhook_url:
        deliveries.append(
            Delivery(
                workspace_id=workspace_id,
                url=webhook_url,
                headers=webhook_headers or {},
                event_type=event,
                snapshot=snapshot,
                **subject,
            )
        )
    created = Delivery.objects.bulk_create(deliveries)
    queue(created)
    return created


def _request_id(image: Image | None, batch: Batch | None) -> str:
    """The id of the request that uploaded the image (or the batch), for the delivery's log lines."""
    if image is not None:
        return image.request_id
    first = batch.images.order_by("created_at").first() if batch is not None else None
    return first.request_id if first is not None else ""


@receiver(jobs.job_finished, dispatch_uid="webhooks.image_finished")
def _image_finished(sender: Any, image: Image, completed: bool, deleted: bool, **kwargs: Any) -> None:
    if deleted:
        return
    event = EventType.IMAGE_COMPLETED if completed else EventType.IMAGE_FAILED
    _record(
        event,
        image.workspace_id,
        payloads.render_image(image),
        image=image,
        webhook_url=image.webhook_url,
        webhook_headers=image.webhook_headers,
    )


@receiver(batch_finished, dispatch_uid="webhooks.batch_finished")
def _batch_finished(sender: Any, batch_id: Any, status: str, **kwargs: Any) -> None:
    batch = Batch.objects.filter(pk=batch_id).prefetch_related("images").first()
    if batch is None:
        return
    _record(
        f"batch.{status}",
        batch.workspace_id,
        payloads.render_batch(batch),
        batch=batch,
        webhook_url=batch.webhook_url,
        webhook_headers=batch.webhook_headers,
    )


def send_test(endpoint: Endpoint) -> Delivery:
    """Queue a test event to ``endpoint``: an ``image.completed`` about a sample image, marked ``"test": true``."""
    [delivery] = Delivery.objects.bulk_create(
        [
            Delivery(
                workspace_id=endpoint.workspace_id,
                endpoint=endpoint,
                url=endpoint.url,
                event_type=EventType.IMAGE_COMPLETED,
                snapshot=payloads.sample_image(),
            )
        ]
    )
    queue([delivery])
    return delivery


def redeliver(delivery: Delivery) -> None:
    """Queue one more attempt of ``delivery`` (:func:`webhooks.tasks.redeliver`), whatever its state."""
    queue([delivery], REDELIVER_TASK)
