"""An uploaded image and its upscaling job: fields, queries and the conditional UPDATE that moves it.

What moves it, and when, is :mod:`images.jobs`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import PurePosixPath

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.db import models
from django.urls import reverse
from django.utils import timezone

from accounts.models import Workspace
from images import files
from inference import FORMAT_EXTENSIONS

DOWNLOAD_SALT = "images.download"
#: What a client is told of an expired image's files.
EXPIRED_REASON = "The image expired: its files were deleted after the plan's retention period."
#: The files a cached copy shares with the image it was served from.
SHARED_FILES = ("upscaled", "original_thumbnail", "result_thumbnail")
#: Seconds after its time limit that a job still processing counts as stalled (its worker is gone).
STALL_GRACE_SECONDS = 120


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


class ImageQuerySet(models.QuerySet["Image"]):
    def in_workspace(self, workspace: Workspace) -> ImageQuerySet:
        """The images of ``workspace``: every image query of the API and the pages goes through here."""
        return self.filter(workspace=workspace)

    def unfinished(self) -> ImageQuerySet:
        return self.filter(status__in=Image.UNFINISHED)

    def stalled(self) -> list[Image]:
        """Images processing whose worker died: no heartbeat for ``STALLED_AFTER_SECONDS``, or still
        processing past their time limit plus a grace period.

        Compared in Python: the images processing at once are no more than the workers.
        """
        now = timezone.now()
        silent = now - timedelta(seconds=settings.STALLED_AFTER_SECONDS)
        return [
            image
            for image in self.filter(status=Image.Status.PROCESSING, started_at__isnull=False)
            if image.started_at is not None
            and (
                (image.heartbeat_at or image.started_at) < silent
                or image.started_at + timedelta(seconds=image.time_limit + STALL_GRACE_SECONDS) < now
            )
        ]

    def lost(self) -> ImageQuerySet:
        """Images waiting for a task sent more than ``STALLED_AFTER_SECONDS`` ago (or never, by a process
        that died before sending it). Only while the task queue is empty is such a task known to be
        lost: see :func:`images.jobs.requeue_lost`."""
        sent_before = timezone.now() - timedelta(seconds=settings.STALLED_AFTER_SECONDS)
        never_sent = models.Q(queued_at__isnull=True, created_at__lt=sent_before)
        return self.filter(models.Q(queued_at__lt=sent_before) | never_sent, status=Image.Status.PENDING, queued=True)

    def move(self, pk: uuid.UUID, sources: tuple[str, ...] | list[str], **changes: object) -> bool:
        """UPDATE the image ``pk`` with ``changes`` if its status is one of ``sources``; whether it did.

        The building block of every state change (:mod:`images.jobs`): a conditional UPDATE,
        so a worker, the stall sweep, a cancellation and a delete racing each other cannot
        overwrite one another's outcome.
        """
        return bool(self.filter(pk=pk, status__in=sources).update(**changes))


class OutputFormat(models.TextChoices):
    """The result's format: the input's (``auto``), or one asked for."""

    AUTO = "auto"
    PNG = "png"
    JPEG = "jpeg"
    WEBP = "webp"


def _original_path(instance: Image, filename: str) -> str:
    # Named by the service, with the extension of the format that decoded: the upload's own
    # name is only data (images.files).
    return f"images/{instance.pk}/original.{FORMAT_EXTENSIONS.get(instance.original_format, 'bin')}"


def _upscaled_path(instance: Image, filename: str) -> str:
    return f"images/{instance.pk}/{filename}"


def _thumbnail_path(instance: Image, filename: str) -> str:
    return f"images/{instance.pk}/{filename}"


class Image(models.Model):
    """One image uploaded for upscaling, its result file and the state of its job.

    Sizes are in bytes, dimensions in pixels after the EXIF orientation is applied.
    ``target_width`` x ``target_height`` is the output size, whether it was asked for
    directly or follows from ``scale_factor``.
    """

    class Status(models.TextChoices):
        # The labels are what the dashboard and the admin show.
        PENDING = "pending", "Queued"
        PROCESSING = "processing", "Processing"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        # Its files were deleted after the plan's retention period; the record stays.
        EXPIRED = "expired", "Expired"

    UNFINISHED = (Status.PENDING, Status.PROCESSING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="images")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    batch = models.ForeignKey("batches.Batch", on_delete=models.CASCADE, null=True, blank=True, related_name="images")

    # An image given by URL has no file, size or format until the worker fetched it.
    source_url = models.URLField(max_length=2048, blank=True, help_text="Where the worker fetches the image.")
    ref = models.CharField(max_length=255, blank=True, help_text="The client's own reference, echoed back.")
    webhook_url = models.URLField(max_length=2000, blank=True, help_text="Where its image.* event is POSTed.")
    cache_key = models.CharField(max_length=64, blank=True, db_index=True,
                                 help_text="SHA-256 of the input and the options that change its result.")  # fmt: skip
    cached = models.BooleanField(default=False, help_text="Served from an earlier identical request's result.")
    worker = models.CharField(max_length=100, blank=True, help_text="The worker that ran it: host:process id.")
    request_id = models.CharField(max_length=64, blank=True, help_text="The upload's request id, in every log line.")
    queued = models.BooleanField(default=False, help_text="Its task was sent (a batch sends a few at a time).")
    queued_at = models.DateTimeField(null=True, blank=True, help_text="When its task was last sent.")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Times a worker claimed it.")
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last sign of life of its worker.")
    webhook_headers = models.JSONField(default=dict, blank=True, help_text="Extra headers sent to webhook_url.")
    original = models.FileField(upload_to=_original_path, max_length=255, blank=True)
    original_filename = models.CharField(max_length=255)
    original_size = models.PositiveBigIntegerField(null=True, blank=True)
    original_width = models.PositiveIntegerField(null=True, blank=True)
    original_height = models.PositiveIntegerField(null=True, blank=True)
    original_format = models.CharField(max_length=8, blank=True)

    scale_factor = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    # What the request named, resolved against the input once its size is known.
    requested_width = models.PositiveIntegerField(null=True, blank=True)
    requested_height = models.PositiveIntegerField(null=True, blank=True)
    # The output size, whether the request named it or it follows from the scale factor (or a box).
    target_width = models.PositiveIntegerField(null=True, blank=True)
    target_height = models.PositiveIntegerField(null=True, blank=True)
    max_width = models.PositiveIntegerField(null=True, blank=True, help_text="The box the result must fit in.")
    max_height = models.PositiveIntegerField(null=True, blank=True)
    output_format = models.CharField(
        max_length=8, choices=OutputFormat.choices, default=OutputFormat.AUTO, help_text="auto: the input's."
    )
    output_quality = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="JPEG and WebP quality, 1-100 (default 90)."
    )
    tune_colors = models.BooleanField(default=False, help_text="Give the result the input's low-frequency colour.")
    model = models.CharField(max_length=32, help_text="The model asked for; may be 'auto'.")
    model_used = models.CharField(max_length=32, help_text="The model that runs: 'auto' resolved.")
    model_reason = models.CharField(max_length=200, blank=True, help_text="Why 'auto' chose model_used.")
    max_quality = models.BooleanField(default=False, help_text="Geometric self-ensemble (precise only).")
    api_request = models.BooleanField(default=True, help_text="Uploaded with an API token, not from the dashboard.")
    keep_metadata = models.BooleanField(
        default=False, help_text="Keep all EXIF (GPS, camera) in the result; else only the technical tags."
    )
    scale_chain = models.JSONField(default=list, blank=True, help_text="Native network scales, in order.")

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent of the network passes done.")
    error = models.TextField(blank=True)
    upscaled = models.FileField(upload_to=_upscaled_path, max_length=255, blank=True)
    upscaled_size = models.PositiveBigIntegerField(null=True, blank=True)
    upscaled_width = models.PositiveIntegerField(null=True, blank=True)
    upscaled_height = models.PositiveIntegerField(null=True, blank=True)
    upscaled_format = models.CharField(max_length=8, blank=True)
    processing_time = models.FloatField(null=True, blank=True, help_text="Seconds of inference and encoding.")
    time_limit = models.PositiveIntegerField(
        default=3600, help_text="Seconds the job may run before it is stopped (from its size and model)."
    )
    original_thumbnail = models.FileField(upload_to=_thumbnail_path, max_length=255, blank=True)
    result_thumbnail = models.FileField(upload_to=_thumbnail_path, max_length=255, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    quota_month = models.DateField(null=True, blank=True, help_text="Month whose quota this image counts in.")

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = ImageQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workspace", "-created_at"]), models.Index(fields=["status", "started_at"])]

    def __str__(self) -> str:
        return f"{self.original_filename} ({self.status})"

    # --- presentation ---------------------------------------------------------------

    @property
    def original_dimensions(self) -> str | None:
        if self.original_width is None:
            return None
        return f"{self.original_width}x{self.original_height}"

    @property
    def upscaled_dimensions(self) -> str | None:
        if self.upscaled_width is None:
            return None
        return f"{self.upscaled_width}x{self.upscaled_height}"

    @property
    def output_size(self) -> tuple[int, int]:
        """(width, height) of the result, in pixels; known once the input's size is (for a URL, once fetched)."""
        if self.target_width is None or self.target_height is None:
            raise ValueError(f"The size of image {self.pk} is not known yet.")
        return self.target_width, self.target_height

    @property
    def is_passthrough(self) -> bool:
        """The input already fills the box the result must fit: nothing to upscale, no quota used."""
        return self.target_width is not None and (self.target_width, self.target_height) == (
            self.original_width, self.original_height
        )  # fmt: skip

    @property
    def encode_format(self) -> str | None:
        """The format the result is written in when one was asked for (``"JPEG"``), else None: the input's."""
        return None if self.output_format == OutputFormat.AUTO else self.output_format.upper()

    @property
    def is_finished(self) -> bool:
        """Completed or failed: nothing more will happen to it unless it is retried."""
        return self.status not in self.UNFINISHED

    @property
    def download_filename(self) -> str:
        stem = PurePosixPath(self.original_filename).stem or "image"
        suffix = PurePosixPath(self.upscaled.name or "").suffix
        return f"{stem}_upscaled_{self.target_width}x{self.target_height}{suffix}"

    def download_token(self) -> str:
        """A signed token naming this image, accepted by the file view until it expires."""
        return signing.dumps(str(self.pk), salt=DOWNLOAD_SALT)

    def download_url(self, absolute: Callable[[str], str]) -> str | None:
        """The URL a client downloads a completed image's result from; None before it is completed.

        A presigned URL of object storage when the files are there (:func:`images.files.presigned_url`),
        else the path of the site's own signed file URL made absolute by ``absolute``
        (``request.build_absolute_uri``, or the site's ``SITE_URL`` in the worker). Either expires
        after ``DOWNLOAD_URL_MAX_AGE``.
        """
        if self.status != self.Status.COMPLETED or not self.upscaled:
            return None
        presigned = files.presigned_url(self.upscaled, fmt=self.upscaled_format, filename=self.download_filename)
        return presigned or absolute(reverse("images:file", args=[self.download_token()]))

    @classmethod
    def from_download_token(cls, token: str) -> Image | None:
        """The completed image a valid, unexpired token names, or None."""
        try:
            pk = signing.loads(token, salt=DOWNLOAD_SALT, max_age=settings.DOWNLOAD_URL_MAX_AGE)
        except signing.BadSignature:
            return None
        return cls.objects.filter(pk=pk, status=cls.Status.COMPLETED).first()

    def store_thumbnail(self, which: str, jpeg: bytes) -> bool:
        """Store a preview (``which``: ``"original_thumbnail"`` or ``"result_thumbnail"``) of this image.

        Returns False, leaving no file behind, when the image was deleted meanwhile.
        """
        field = getattr(self, which)
        name = field.storage.save(field.field.generate_filename(self, f"{which}.jpg"), ContentFile(jpeg))
        if Image.objects.filter(pk=self.pk).update(**{which: name}):
            setattr(self, which, name)
            return True
        field.storage.delete(name)
        return False

    def delete_files(self) -> None:
        """Remove the original, the result and their thumbnails from storage.

        A result (and thumbnails) that cached copies share (:attr:`cached`) stays while
        another image still refers to it.
        """
        for field in (self.original, self.upscaled, self.original_thumbnail, self.result_thumbnail):
            if not (field and field.name):
                continue
            name = field.field.name
            others = Image.objects.exclude(pk=self.pk)
            if name not in SHARED_FILES or not others.filter(**{name: field.name}).exists():
                field.storage.delete(field.name)
