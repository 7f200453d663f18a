"""An uploaded image and its upscaling job."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import PurePosixPath
from typing import IO

from django.conf import settings
from django.core import signing
from django.core.files import File
from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone

DOWNLOAD_SALT = "images.download"


def human_size(num_bytes: int | None) -> str | None:
    """Bytes as a short human string with binary units: ``1536`` -> ``"1.5 KB"``, ``10485760`` -> ``"10 MB"``."""
    if num_bytes is None:
        return None
    size = float(num_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} B" if unit == "B" else f"{size:.2f}".rstrip("0").rstrip(".") + f" {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _original_path(instance: Image, filename: str) -> str:
    return f"images/{instance.pk}/original{PurePosixPath(filename).suffix.lower()}"


def _upscaled_path(instance: Image, filename: str) -> str:
    return f"images/{instance.pk}/{filename}"


class Image(models.Model):
    """One image uploaded for upscaling, its result file and the state of its job.

    Sizes are in bytes, dimensions in pixels after the EXIF orientation is applied.
    ``target_width`` x ``target_height`` is the output size, whether it was asked for
    directly or follows from ``scale_factor``.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        COMPLETED = "completed"
        FAILED = "failed"

    UNFINISHED = (Status.PENDING, Status.PROCESSING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="images")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    batch = models.ForeignKey("batches.Batch", on_delete=models.CASCADE, null=True, blank=True, related_name="images")

    original = models.FileField(upload_to=_original_path, max_length=255)
    original_filename = models.CharField(max_length=255)
    original_size = models.PositiveBigIntegerField()
    original_width = models.PositiveIntegerField()
    original_height = models.PositiveIntegerField()
    original_format = models.CharField(max_length=8)

    scale_factor = models.PositiveSmallIntegerField(null=True, blank=True)
    target_width = models.PositiveIntegerField()
    target_height = models.PositiveIntegerField()
    model = models.CharField(max_length=32, help_text="The model asked for; may be 'auto'.")
    model_used = models.CharField(max_length=32, help_text="The model that runs: 'auto' resolved.")
    model_reason = models.CharField(max_length=200, blank=True, help_text="Why 'auto' chose model_used.")
    max_quality = models.BooleanField(default=False, help_text="Geometric self-ensemble (precise only).")
    scale_chain = models.JSONField(default=list, blank=True, help_text="Native network scales, in order.")

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    error = models.TextField(blank=True)
    upscaled = models.FileField(upload_to=_upscaled_path, max_length=255, blank=True)
    upscaled_size = models.PositiveBigIntegerField(null=True, blank=True)
    upscaled_width = models.PositiveIntegerField(null=True, blank=True)
    upscaled_height = models.PositiveIntegerField(null=True, blank=True)
    upscaled_format = models.CharField(max_length=8, blank=True)
    processing_time = models.FloatField(null=True, blank=True, help_text="Seconds of inference and encoding.")
    task_id = models.CharField(max_length=64, blank=True)
    quota_month = models.DateField(null=True, blank=True, help_text="Month whose quota this image counts in.")

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workspace", "-created_at"]), models.Index(fields=["status", "started_at"])]

    def __str__(self) -> str:
        return f"{self.original_filename} ({self.status})"

    # --- presentation ---------------------------------------------------------------

    @property
    def original_dimensions(self) -> str:
        return f"{self.original_width}x{self.original_height}"

    @property
    def upscaled_dimensions(self) -> str | None:
        if self.upscaled_width is None:
            return None
        return f"{self.upscaled_width}x{self.upscaled_height}"

    @property
    def is_finished(self) -> bool:
        """Completed or failed: nothing more will happen to it unless it is retried."""
        return self.status not in self.UNFINISHED

    @property
    def download_filename(self) -> str:
        stem = PurePosixPath(self.original_filename).stem or "image"
        suffix = PurePosixPath(self.upscaled.name).suffix if self.upscaled else ""
        return f"{stem}_upscaled_{self.target_width}x{self.target_height}{suffix}"

    def download_token(self) -> str:
        """A signed token naming this image, accepted by the file view until it expires."""
        return signing.dumps(str(self.pk), salt=DOWNLOAD_SALT)

    def download_path(self) -> str | None:
        """Path of the signed file URL for a completed image, else None."""
        if self.status != self.Status.COMPLETED or not self.upscaled:
            return None
        return reverse("images:file", args=[self.download_token()])

    @classmethod
    def from_download_token(cls, token: str) -> Image | None:
        """The completed image a valid, unexpired token names, or None."""
        try:
            pk = signing.loads(token, salt=DOWNLOAD_SALT, max_age=settings.DOWNLOAD_URL_MAX_AGE)
        except signing.BadSignature:
            return None
        return cls.objects.filter(pk=pk, status=cls.Status.COMPLETED).first()

    # --- state changes ------------------------------------------------------------------
    # Each transition is a conditional UPDATE, so a worker, the stall sweep and a
    # delete racing each other cannot overwrite one another's outcome.

    def claim(self) -> bool:
        """Move pending -> processing; False if someone else already moved it (or it is gone)."""
        now = timezone.now()
        claimed = Image.objects.filter(pk=self.pk, status=self.Status.PENDING).update(
            status=self.Status.PROCESSING, started_at=now, updated_at=now
        )
        if claimed:
            self.status, self.started_at = self.Status.PROCESSING, now
            if self.batch_id:
                from batches.models import Batch

                Batch.mark_processing(self.batch_id)
        return bool(claimed)

    def complete(self, content: IO[bytes], extension: str, *, width: int, height: int, fmt: str,
                 scale_chain: list[int], seconds: float) -> bool:  # fmt: skip
        """Store the result file and move processing -> completed.

        Returns False, leaving no file behind, when the image was deleted or failed
        meanwhile.
        """
        name = f"upscaled_{width}x{height}.{extension}"
        stored = self.upscaled.storage.save(_upscaled_path(self, name), File(content, name=name))
        size = self.upscaled.storage.size(stored)
        now = timezone.now()
        with transaction.atomic():
            done = self._transition(
                [self.Status.PROCESSING],
                completed=True,
                status=self.Status.COMPLETED,
                upscaled=stored,
                upscaled_size=size,
                upscaled_width=width,
                upscaled_height=height,
                upscaled_format=fmt,
                scale_chain=scale_chain,
                processing_time=round(seconds, 3),
                error="",
                completed_at=now,
                updated_at=now,
            )
        if not done:
            self.upscaled.storage.delete(stored)
            return False
        self.refresh_from_db()
        return True

    def fail(self, reason: str) -> bool:
        """Move pending/processing -> failed with a reason for the user; False if already finished."""
        now = timezone.now()
        with transaction.atomic():
            failed = self._transition(
                self.UNFINISHED, completed=False, status=self.Status.FAILED, error=reason[:2000],
                completed_at=now, updated_at=now,
            )  # fmt: skip
            if failed and self.quota_month:
                # A failed image does not count against the quota.
                from billing.quota import release_images

                release_images(self.workspace_id, self.quota_month)
        if failed:
            self.status, self.error = self.Status.FAILED, reason
        return bool(failed)

    def _transition(self, sources, *, completed: bool, **changes) -> bool:
        """UPDATE this image from one of ``sources`` with ``changes``; count the outcome in its batch.

        Run inside a transaction: the image's state and its batch's counter commit together.
        """
        changed = Image.objects.filter(pk=self.pk, status__in=sources).update(**changes)
        if changed and self.batch_id:
            from batches.models import Batch

            Batch.record_outcome(self.batch_id, completed=completed)
        return bool(changed)

    def retry(self) -> bool:
        """Queue a failed image again: failed -> pending, counted against this month's quota again.

        Returns False when the image is not failed or its batch was cancelled. A failed
        image of a batch counts as unfinished again, and the batch is processing again.

        Raises:
            billing.quota.QuotaExceeded: the month's quota has no room; nothing changes.
        """
        from batches.models import Batch
        from billing.quota import limits_for, reserve_images
        from images.tasks import enqueue_upscale

        if self.batch_id and self.batch.status == Batch.Status.CANCELLED:
            return False
        with transaction.atomic():
            month = reserve_images(self.workspace, 1, limits_for(self.workspace).images_per_month)
            now = timezone.now()
            changed = Image.objects.filter(pk=self.pk, status=self.Status.FAILED).update(
                status=self.Status.PENDING, error="", started_at=None, completed_at=None, quota_month=month,
                updated_at=now,
            )  # fmt: skip
            if not changed:
                transaction.set_rollback(True)
                return False
            if self.batch_id:
                Batch.record_retry(self.batch_id)
            self.refresh_from_db()
            enqueue_upscale(self)
        return True

    def delete_files(self) -> None:
        """Remove the original and the result from storage."""
        for field in (self.original, self.upscaled):
            if field and field.name:
                field.storage.delete(field.name)

    @classmethod
    def stalled(cls) -> models.QuerySet[Image]:
        """Images still processing after the task timeout plus a grace period: their worker died."""
        cutoff = timezone.now() - timedelta(seconds=settings.UPSCALE_TASK_TIMEOUT + 120)
        return cls.objects.filter(status=cls.Status.PROCESSING, started_at__lt=cutoff)
