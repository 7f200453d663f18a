"""The life of a batch, built on the image lifecycle (:mod:`images.jobs`): submit, cancel, and the counters.

A batch moves only because its images do. The receivers below follow the image
lifecycle's signals, in the transaction of each image's move, so a batch's counters
and status always commit together with its images' states:

* ``job_started`` → the batch is processing;
* ``job_finished`` → one more completed or failed image; the last one settles the
  batch (completed, partially failed or failed) and sends :data:`batch_finished`; any
  other queues the batch's next image;
* ``job_requeued`` → one failure taken back, the batch is processing again; a
  cancelled batch refuses (:class:`images.jobs.RetryRefused`).

``batch_finished(batch_id, status)`` is sent, inside the transaction, when a batch
settles or is cancelled.

Fairness: a batch has at most ``BATCH_QUEUE_WINDOW`` images in the task queue at a time
(the next is queued as one finishes), so an image uploaded by anyone after a 20-image
batch waits behind a few of its images, not all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.dispatch import Signal, receiver

from accounts.models import User, Workspace
from batches.models import Batch
from billing.quota import Limits
from images import jobs
from images.models import Image

batch_finished = Signal()


def submit(workspace: Workspace, user: User | None, submissions: Sequence[jobs.Submission], *, name: str = "",
           limits: Limits | None = None, api_request: bool = True) -> Batch:  # fmt: skip
    """Create a batch of images with the same options and queue them, all or nothing.

    The request's ``webhook_url`` is the batch's: it receives the ``batch.*`` event.

    Args:
        name: the batch's name; default "N images".
        limits: the workspace's limits, when the caller has them already.
        api_request: uploaded with an API token (False: from the dashboard).

    Raises:
        billing.quota.PlanLimit: see :func:`images.jobs.submit`; the plan needs batches,
            and the quota must have room for every image.
    """
    asked = submissions[0].request  # the same options for every image
    with transaction.atomic():
        batch = Batch.objects.create(
            workspace=workspace,
            created_by=user,
            name=name or f"{len(submissions)} image{'s' if len(submissions) > 1 else ''}",
            total_images=len(submissions),
            scale_factor=None if asked.scale_factor is None else Decimal(str(asked.scale_factor)),
            target_width=asked.target_width,
            target_height=asked.target_height,
            model=asked.model_name,
            ref=asked.ref,
            webhook_url=asked.webhook_url,
            webhook_headers=asked.webhook_headers,
        )
        # A batch's webhook_url gets the batch's event, not one per image.
        own = [replace(s, request=replace(s.request, webhook_url="", webhook_headers={})) for s in submissions]
        jobs.submit(workspace, user, own, batch=batch, limits=limits, api_request=api_request,
                    queue_first=settings.BATCH_QUEUE_WINDOW)  # fmt: skip
    return batch


def cancel(batch: Batch) -> int:
    """Cancel an unfinished batch: its unfinished images fail as "cancelled" and give their quota back.

    A worker in the middle of one of them notices and stops (:func:`images.jobs.watch`);
    one that finishes anyway finds the image failed and discards its result.

    Returns:
        How many images were cancelled; 0 if the batch had already finished.
    """
    with transaction.atomic():
        # First, so that no image finishing meanwhile settles the batch as completed.
        if not Batch.mark_cancelled(batch.pk):
            return 0
        batch_finished.send(sender=Batch, batch_id=batch.pk, status=Batch.Status.CANCELLED)
        cancelled = sum(
            jobs.fail(image, Batch.CANCELLED_REASON) for image in Image.objects.filter(batch=batch).unfinished()
        )
    batch.refresh_from_db()
    return cancelled


# --- following the images ------------------------------------------------------------------------------


@receiver(jobs.job_started, dispatch_uid="batches.started")
def _started(sender: Any, image: Image, **kwargs: Any) -> None:
    if image.batch_id:
        Batch.mark_processing(image.batch_id)


@receiver(jobs.job_finished, dispatch_uid="batches.finished")
def _finished(sender: Any, image: Image, completed: bool, **kwargs: Any) -> None:
    if not image.batch_id:
        return
    # A deleted unfinished image can never finish: counted as failed, or its batch would wait forever.
    # (When the batch itself is being deleted the UPDATE finds no row to change.)
    if Batch.record_outcome(image.batch_id, completed=completed):
        status = Batch.objects.filter(pk=image.batch_id).values_list("status", flat=True).first()
        batch_finished.send(sender=Batch, batch_id=image.batch_id, status=status)
    elif Batch.objects.filter(pk=image.batch_id, status__in=Batch.UNFINISHED).exists():
        jobs.queue_next(Image.objects.filter(batch_id=image.batch_id))


@receiver(jobs.job_requeued, dispatch_uid="batches.requeued")
def _requeued(sender: Any, image: Image, **kwargs: Any) -> None:
    if image.batch_id and not Batch.record_retry(image.batch_id):
        raise jobs.RetryRefused("its batch was cancelled")
