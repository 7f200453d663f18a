"""A batch: up to 20 images uploaded together with the same options, tracked as one job.

The conditional UPDATEs that keep its counters and status are here; :mod:`batches.jobs`
decides when they run.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Case, F, Value, When
from django.utils import timezone

from accounts.models import Workspace

if TYPE_CHECKING:
    from images.models import Image


class BatchQuerySet(models.QuerySet["Batch"]):
    def in_workspace(self, workspace: Workspace) -> BatchQuerySet:
        """The batches of ``workspace``: every batch query of the API and the pages goes through here."""
        return self.filter(workspace=workspace)


class Batch(models.Model):
    """Images uploaded in one request, with counters kept by the workers.

    ``completed_images`` and ``failed_images`` are bumped with atomic ``UPDATE … SET
    n = n + 1`` statements in the same transaction as the image's own state change
    (:meth:`record_outcome`), so images finishing at the same moment on several
    workers never lose an update, and the status follows from the counters once
    every image is done.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        COMPLETED = "completed"
        PARTIALLY_FAILED = "partially_failed"
        FAILED = "failed"
        CANCELLED = "cancelled"

    UNFINISHED = (Status.PENDING, Status.PROCESSING)
    #: The reason an image of a cancelled batch fails with.
    CANCELLED_REASON = "cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="batches")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    name = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    total_images = models.PositiveSmallIntegerField()
    completed_images = models.PositiveSmallIntegerField(default=0)
    failed_images = models.PositiveSmallIntegerField(default=0)
    scale_factor = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    target_width = models.PositiveIntegerField(null=True, blank=True)
    target_height = models.PositiveIntegerField(null=True, blank=True)
    model = models.CharField(max_length=32)
    ref = models.CharField(max_length=255, blank=True, help_text="The client's own reference, echoed back.")
    webhook_url = models.URLField(max_length=2000, blank=True, help_text="Where its batch.* event is POSTed.")
    webhook_headers = models.JSONField(default=dict, blank=True, help_text="Extra headers sent to webhook_url.")

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = BatchQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workspace", "-created_at"])]
        verbose_name_plural = "batches"

    def __str__(self) -> str:
        done = self.completed_images + self.failed_images
        return f"{self.name or 'Batch'} ({done}/{self.total_images}, {self.status})"

    @property
    def progress(self) -> int:
        """Share of the images that are finished (completed or failed), 0-100."""
        if not self.total_images:
            return 100
        return int(100 * (self.completed_images + self.failed_images) // self.total_images)

    @property
    def is_finished(self) -> bool:
        return self.status not in self.UNFINISHED

    def images_in_upload_order(self) -> list[Image]:
        """The batch's images, oldest first; sorted in Python so a ``prefetch_related("images")`` serves it."""
        return sorted(self.images.all(), key=lambda image: image.created_at)

    # --- state changes: conditional UPDATEs, run by batches.jobs in the image's own transaction ---------

    @classmethod
    def mark_processing(cls, batch_id: uuid.UUID) -> None:
        """pending -> processing when a worker claims the batch's first image."""
        cls.objects.filter(pk=batch_id, status=cls.Status.PENDING).update(
            status=cls.Status.PROCESSING, updated_at=timezone.now()
        )

    @classmethod
    def record_outcome(cls, batch_id: uuid.UUID, *, completed: bool) -> bool:
        """Count one image as completed or failed and, once all are done, settle the status.

        Call it in the transaction that changed the image, so that the count and the
        image's state commit together. The first UPDATE takes the row lock; the second
        reads the counters after it, so the last image to finish is the one that sees
        ``done == total``, whichever worker runs it. Returns whether this settled the batch.
        """
        now = timezone.now()
        field = "completed_images" if completed else "failed_images"
        cls.objects.filter(pk=batch_id).update(**{field: F(field) + 1, "updated_at": now})
        return bool(
            cls.objects.filter(pk=batch_id, status__in=cls.UNFINISHED)
            .alias(done=F("completed_images") + F("failed_images"))
            .filter(done__gte=F("total_images"))
            .update(
                status=Case(
                    When(failed_images=0, then=Value(cls.Status.COMPLETED)),
                    When(completed_images=0, then=Value(cls.Status.FAILED)),
                    default=Value(cls.Status.PARTIALLY_FAILED),
                ),
                completed_at=now,
            )
        )

    @classmethod
    def record_retry(cls, batch_id: uuid.UUID) -> bool:
        """Take back one failure when a failed image is queued again; the batch is unfinished again.

        Returns False, changing nothing, when the batch was cancelled.
        """
        return bool(
            cls.objects.filter(pk=batch_id, failed_images__gt=0)
            .exclude(status=cls.Status.CANCELLED)
            .update(
                failed_images=F("failed_images") - 1,
                status=cls.Status.PROCESSING,
                completed_at=None,
                updated_at=timezone.now(),
            )
        )

    @classmethod
    def mark_cancelled(cls, batch_id: uuid.UUID) -> bool:
        """unfinished -> cancelled; False if the batch had already finished."""
        now = timezone.now()
        return bool(
            cls.objects.filter(pk=batch_id, status__in=cls.UNFINISHED).update(
                status=cls.Status.CANCELLED, completed_at=now, updated_at=now
            )
        )
