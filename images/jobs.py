"""The life of an upscaling job: the one module that moves images through their states.

::

    submit ──► pending ──claim──► processing ──complete──► completed
                  │ │                  │                      ▲
                  │ └──a cached result (submit, admit)────────┘
                  └───────fail─────────┴──────────────────► failed ──retry──► pending

Views, the admin, the worker's tasks and the stall sweep call these functions; nothing
else changes an image's status. Each move is a conditional UPDATE from the states it
may leave (:meth:`images.models.ImageQuerySet.move`) inside a transaction, and sends a
signal inside that same transaction, so the apps built on images keep their own state
in step with it (batches count their images' outcomes) and can act once it commits:

``job_started(image)``
    pending → processing: a worker claimed it.
``job_finished(image, completed, deleted)``
    → completed (``completed=True``), → failed, or an unfinished image deleted
    (``deleted=True``): nothing more will happen to it unless it is retried.
``job_requeued(image)``
    failed → pending, by :func:`retry`. A receiver may refuse by raising
    :class:`RetryRefused`; the retry is then undone.

Receivers run in the transaction of the move: an exception rolls the move back.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import IO, Any

from django import db
from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import models, transaction
from django.dispatch import Signal
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.tasks import async_task

from accounts.models import User, Workspace
from billing.models import Plan
from billing.quota import Limits, limits_for, release_images, reserve_images
from images.models import Image, OutputFormat
from inference import WEBP_MAX_SIDE, SizeError, UpscaleOptions, resolve_options
from upscaler_site import logs

log = logging.getLogger(__name__)

job_started = Signal()
job_finished = Signal()
job_requeued = Signal()

#: The Django-Q2 task that runs a job, the one that fetches an image from its URL first, and the
#: hook that catches a task that crashed.
TASK = "images.tasks.upscale_image"
FETCH_TASK = "images.tasks.fetch_image"
TASK_HOOK = "images.tasks.on_task_done"
#: Seconds a fetch may take in all (each read has upscaler_site.outbound.TIMEOUT).
FETCH_TIME_LIMIT = 120
#: How often, in seconds, a running job checks whether its image was cancelled or deleted.
CANCEL_CHECK_SECONDS = 2.0
#: A job's time limit is this many times its CPU budget (:attr:`inference.UpscaleOptions.cpu_seconds`),
#: and never less than :data:`MIN_TIME_LIMIT` seconds (decoding, encoding, loading the model).
TIME_LIMIT_MARGIN = 2.0
MIN_TIME_LIMIT = 300

Status = Image.Status


class RetryRefused(Exception):
    """Raised by a ``job_requeued`` receiver: the image may not run again (its batch was cancelled)."""


class JobCancelled(Exception):
    """The image stopped being ``processing`` under the worker (batch cancelled, image deleted)."""


@dataclass(frozen=True)
class JobRequest:
    """What a request asked of one image, whatever its source.

    Attributes:
        scale_factor, target_width, target_height, max_width, max_height: the size asked
            for (:func:`inference.output_size`); all None for the default x2.
        model: a name in :data:`inference.MODEL_CHOICES`; empty for ``UPSCALE_DEFAULT_MODEL``.
        max_quality: run the self-ensemble (``precise`` only).
        keep_metadata: keep all of the input's EXIF in the result (GPS, camera), not
            only the technical tags.
        output_format: :class:`images.models.OutputFormat`: the input's (``auto``) or another.
        output_quality: JPEG and WebP quality, 1-100; None for the default (90).
        tune_colors: give the result the input's low-frequency colour.
        ref: the client's own reference, echoed in every answer and webhook.
        webhook_url, webhook_headers: where to POST this image's ``image.*`` event (signed
            with the workspace's request-webhook secret), with these extra headers.
    """

    scale_factor: float | None = None
    target_width: int | None = None
    target_height: int | None = None
    max_width: int | None = None
    max_height: int | None = None
    model: str = ""
    max_quality: bool = False
    keep_metadata: bool = False
    output_format: str = OutputFormat.AUTO
    output_quality: int | None = None
    tune_colors: bool = False
    ref: str = ""
    webhook_url: str = ""
    webhook_headers: dict[str, str] = field(default_factory=dict)

    @property
    def model_name(self) -> str:
        """The model asked for, or the server's default (``UPSCALE_DEFAULT_MODEL``)."""
        return self.model or str(settings.UPSCALE_DEFAULT_MODEL)


@dataclass(frozen=True)
class Submission:
    """One image to upscale, validated: where it comes from and what was asked of it.

    An upload has its ``file``, ``size_bytes``, ``format`` and ``options`` already (only
    its header was read). An image at ``source_url`` has none of them until the worker
    fetched it (:func:`admit`).

    Attributes:
        request: what was asked.
        filename: the name the client gave it, or the URL's (data only, never a path).
        file: the uploaded (or base64-decoded) file, read once, when stored.
        size_bytes: its size in bytes.
        format: the format its header names, e.g. ``"JPEG"``.
        options: the output size and model the request resolved to (:func:`resolve`).
        source_url: the http(s) URL the worker fetches the image from.
    """

    request: JobRequest
    filename: str
    file: File[Any] | None = None
    size_bytes: int | None = None
    format: str = ""
    options: UpscaleOptions | None = None
    source_url: str = ""


def request_of(image: Image) -> JobRequest:
    """What was asked of a stored image: to resolve it once a fetched image's size is known."""
    return JobRequest(
        scale_factor=None if image.scale_factor is None else float(image.scale_factor),
        target_width=image.requested_width,
        target_height=image.requested_height,
        max_width=image.max_width,
        max_height=image.max_height,
        model=image.model,
        max_quality=image.max_quality,
        keep_metadata=image.keep_metadata,
        output_format=image.output_format,
        output_quality=image.output_quality,
        tune_colors=image.tune_colors,
        ref=image.ref,
        webhook_url=image.webhook_url,
        webhook_headers=image.webhook_headers,
    )


def max_output_pixels() -> int:
    """``UPSCALE_MAX_OUTPUT_MEGAPIXELS`` in pixels: the server's cap on an output (and on any input)."""
    return int(settings.UPSCALE_MAX_OUTPUT_MEGAPIXELS * 1_000_000)


def resolve(source_size: tuple[int, int], request: JobRequest, limits: Limits) -> UpscaleOptions:
    """The options ``request`` resolves to for an input of ``source_size`` = (width, height), under ``limits``.

    The one home of a request's admission rules, for an upload (the API, before anything
    is stored) and for an image fetched from a URL (the worker): the size
    (:func:`inference.resolve_options`) within the server's caps and the plan's
    (network megapixels, a box's largest scale), the time it needs, and WebP's largest side.

    Raises:
        inference.SizeError: impossible options; ``field`` names the request field to blame.
    """
    options = resolve_options(
        source_size,
        scale_factor=request.scale_factor,
        target_width=request.target_width,
        target_height=request.target_height,
        max_width=request.max_width,
        max_height=request.max_height,
        model=request.model_name,
        max_quality=request.max_quality,
        max_scale=settings.UPSCALE_MAX_SCALE,
        fit_max_scale=limits.max_scale,
        max_output_pixels=max_output_pixels(),
        max_network_pixels=limits.max_network_pixels,
        max_cpu_seconds=max_cpu_seconds(),
    )
    if request.output_format == OutputFormat.WEBP and max(options.size) > WEBP_MAX_SIDE:
        raise SizeError(f"WebP images can be at most {WEBP_MAX_SIDE} pixels on a side; choose png or jpeg.",
                        "output_format")  # fmt: skip
    return options


# --- submit ---------------------------------------------------------------------------------------------


def time_limit(options: UpscaleOptions) -> int:
    """Seconds a job may run before it is stopped: its CPU budget with a margin, within ``UPSCALE_TASK_TIMEOUT``."""
    return int(min(max(TIME_LIMIT_MARGIN * options.cpu_seconds, MIN_TIME_LIMIT), settings.UPSCALE_TASK_TIMEOUT))


def max_cpu_seconds() -> float:
    """The largest CPU budget a job may have for its :func:`time_limit` to fit ``UPSCALE_TASK_TIMEOUT``."""
    return float(settings.UPSCALE_TASK_TIMEOUT) / TIME_LIMIT_MARGIN


def submit(
    workspace: Workspace,
    user: User | None,
    submissions: Sequence[Submission],
    *,
    batch: models.Model | None = None,
    limits: Limits | None = None,
    api_request: bool = True,
    queue_first: int | None = None,
) -> list[Image]:
    """Admit, count, store and queue images, all or nothing.

    In one transaction: the plan's checks, the monthly quota (all of the images or
    none; an input that already fills its box is not counted, there is nothing to
    upscale), the cap on unfinished jobs, the files in storage, the rows, and the
    tasks, queued once it commits. A failure anywhere leaves no row, no quota taken
    and no file behind.

    Args:
        batch: the batch row the images belong to (created by :mod:`batches.jobs` in
            the same transaction); its presence also needs a plan with batches.
        limits: the workspace's limits, when the caller has them already.
        api_request: uploaded with an API token (False: from the dashboard).
        queue_first: queue only this many images now (None: all); the others stay
            pending, unqueued, until :func:`queue_next` sends them.

    Raises:
        billing.quota.PlanLimit: the plan does not allow it (API access, lapsed
            subscription, scale factor, batches), the quota has no room
            (``QuotaExceeded``) or too many images are unfinished
            (``TooManyUnfinished``); the message is for the user.
    """
    limits = limits or limits_for(workspace)
    limits.check_submit(max(_factor(s) for s in submissions), batch=batch is not None)
    keys = [_upload_cache_key(s) for s in submissions]
    images: list[Image] = []
    try:
        with transaction.atomic():
            hits = [cached_result(workspace, key) for key in keys]
            free = [bool(s.options and s.options.passthrough) or hit is not None
                    for s, hit in zip(submissions, hits, strict=True)]  # fmt: skip
            charged = free.count(False)
            month = reserve_images(workspace, charged, limits.images_per_month) if charged else None
            # After the reservation, whose UPDATE holds the workspace's usage row until this
            # transaction ends: concurrent submissions of a workspace count one after the other.
            unfinished = sum(hit is None for hit in hits)  # a cached result is finished at once
            limits.check_unfinished(Image.objects.in_workspace(workspace).unfinished().count(), unfinished)
            queued = 0
            for submission, key, hit, is_free in zip(submissions, keys, hits, free, strict=True):
                image = _store(workspace, user, submission, None if is_free else month, batch, api_request, key)
                images.append(image)
                if hit is not None:
                    _complete_from(image, hit)
                elif queue_first is None or queued < queue_first:
                    _enqueue_on_commit(image)
                    queued += 1
    except BaseException:
        # The rows roll back with the transaction; the files are not transactional.
        for image in images:
            image.delete_files()
        raise
    return images


def _factor(submission: Submission) -> float:
    """The scale factor the plan's maximum is checked against now: a URL's is known only once fetched."""
    if submission.options is not None:
        return submission.options.factor
    return submission.request.scale_factor or 1.0


# --- the result cache -----------------------------------------------------------------------------------

#: The request's fields that change the result's pixels or bytes (not ref, not the webhook).
_PIXEL_FIELDS = ("scale_factor", "target_width", "target_height", "max_width", "max_height", "model", "max_quality",
                 "keep_metadata", "output_format", "output_quality", "tune_colors")  # fmt: skip


def cache_key(content_sha256: str, request: JobRequest) -> str:
    """The result cache's key: SHA-256 of the input's bytes and of what was asked that changes the result."""
    asked = {name: getattr(request, name) for name in _PIXEL_FIELDS} | {"model": request.model_name}
    # JSON, not repr: an enum member and its string value are the same request.
    return hashlib.sha256(f"{content_sha256}:{json.dumps(asked, sort_keys=True)}".encode()).hexdigest()


def _upload_cache_key(submission: Submission) -> str:
    """An upload's cache key ("" for an image at a URL: known once the worker fetched it)."""
    if submission.file is None:
        return ""
    digest = hashlib.sha256()
    for chunk in submission.file.chunks():
        digest.update(chunk)
    submission.file.seek(0)
    return cache_key(digest.hexdigest(), submission.request)


def cached_result(workspace: Workspace, key: str) -> Image | None:
    """The workspace's completed image a worker computed for ``key``, if it still exists.

    Only images the workers computed serve as results, not copies served from one: so
    deleting an image takes its result out of the cache, whatever copies remain.
    """
    if not key:
        return None
    found = Image.objects.in_workspace(workspace).filter(cache_key=key, status=Status.COMPLETED, cached=False)
    return found.exclude(upscaled="").order_by("-completed_at").first()


def _complete_from(image: Image, source: Image) -> None:
    """pending → completed with ``source``'s result (the same file), ``cached``; no quota, no worker.

    It sends ``job_started`` and ``job_finished``, as a job that ran would.
    """
    now = timezone.now()
    fields = ("upscaled", "upscaled_size", "upscaled_width", "upscaled_height", "upscaled_format", "scale_chain",
              "model_used", "model_reason", "original_thumbnail", "result_thumbnail")  # fmt: skip
    done = Image.objects.move(image.pk, [Status.PENDING], status=Status.COMPLETED, cached=True, progress=100,
                              processing_time=0, started_at=now, completed_at=now, updated_at=now,
                              **{name: getattr(source, name) for name in fields})  # fmt: skip
    if done:
        image.refresh_from_db()
        job_started.send(sender=Image, image=image)
        job_finished.send(sender=Image, image=image, completed=True, deleted=False)


def _decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(round(value, 2)))


def _store(workspace: Workspace, user: User | None, submission: Submission, month: Any,
           batch: models.Model | None, api_request: bool, key: str) -> Image:  # fmt: skip
    request = submission.request
    image = Image(
        workspace=workspace,
        created_by=user,
        batch_id=batch.pk if batch is not None else None,
        original_filename=submission.filename[:255] or "image",
        source_url=submission.source_url,
        ref=request.ref,
        webhook_url=request.webhook_url,
        webhook_headers=request.webhook_headers,
        scale_factor=_decimal(request.scale_factor),
        requested_width=request.target_width,
        requested_height=request.target_height,
        max_width=request.max_width,
        max_height=request.max_height,
        output_format=request.output_format,
        output_quality=request.output_quality,
        tune_colors=request.tune_colors,
        model=request.model_name,
        max_quality=request.max_quality,
        keep_metadata=request.keep_metadata,
        api_request=api_request,
        quota_month=month,
        cache_key=key,
        request_id=logs.request_id(),
    )
    if submission.options is not None:
        _apply_options(image, submission.options, submission.size_bytes, submission.format)
    if submission.file is not None:
        image.original.save("original", submission.file, save=False)  # named by _original_path
    try:
        image.save()
    except BaseException:
        if image.original:
            image.original.delete(save=False)
        raise
    return image


def _apply_options(image: Image, options: UpscaleOptions, size_bytes: int | None, fmt: str) -> None:
    """Fill in what an input's header and the resolved options tell: its size, the output's, the model."""
    image.original_size = size_bytes
    image.original_width, image.original_height = options.source_size
    image.original_format = fmt
    image.scale_factor = _decimal(options.scale_factor)
    image.target_width, image.target_height = options.size
    image.model_used = options.model_used or ""
    image.model_reason = options.model_reason
    image.time_limit = time_limit(options)


def admit(image: Image, content: bytes, fmt: str, options: UpscaleOptions, filename: str) -> bool:
    """An image fetched from its URL: store the file, record what it resolved to, and queue its job.

    It stays pending. One that already fills its box (:attr:`inference.UpscaleOptions.passthrough`)
    gives its quota back: there is nothing to upscale; so does one whose result is in the
    cache (:func:`cached_result`), completed at once.

    Returns:
        False, storing nothing, when the image was deleted or failed meanwhile.
    """
    asked = request_of(image)  # as the request asked, before the resolved size replaces it
    _apply_options(image, options, len(content), fmt)
    if filename:
        image.original_filename = filename[:255]
    image.original.save("original", ContentFile(content), save=False)
    with transaction.atomic():
        fields = ["original", "original_filename", "original_size", "original_width", "original_height",
                  "original_format", "scale_factor", "target_width", "target_height", "model_used", "model_reason",
                  "time_limit"]  # fmt: skip
        done = Image.objects.move(image.pk, [Status.PENDING], updated_at=timezone.now(),
                                  **{name: getattr(image, name) for name in fields})  # fmt: skip
        if done:
            key = cache_key(hashlib.sha256(content).hexdigest(), asked)
            Image.objects.filter(pk=image.pk).update(cache_key=key)
            hit = cached_result(image.workspace, key)
            if (options.passthrough or hit is not None) and image.quota_month:
                release_images(image.workspace_id, image.quota_month)
                Image.objects.filter(pk=image.pk).update(quota_month=None)
                image.quota_month = None
            if hit is None:
                _enqueue_on_commit(image)
            else:
                _complete_from(image, hit)
    if not done:
        image.original.delete(save=False)
    return done


def queue_next(images: models.QuerySet[Image]) -> Image | None:
    """Queue the oldest of ``images`` that is pending and was never queued (a batch's next image); which.

    A conditional UPDATE claims it, so two images finishing at once never queue the same one.
    """
    for image in images.filter(status=Status.PENDING, queued=False).order_by("created_at", "pk")[:5]:
        if Image.objects.filter(pk=image.pk, queued=False).update(queued=True):
            _enqueue_on_commit(image, flagged=True)
            return image
    return None


def queue_stranded() -> int:
    """Queue the next image of each batch that waits with none of its images queued or running; how many.

    The sweep's safety net for :func:`queue_next`: a worker that died between committing an
    image's outcome and sending the next image's task would leave its batch waiting for ever.
    """
    waiting = set(Image.objects.filter(status=Status.PENDING, queued=False, batch_id__isnull=False)
                  .values_list("batch_id", flat=True))  # fmt: skip
    busy = set(
        Image.objects.filter(batch_id__in=waiting)
        .filter(models.Q(status=Status.PROCESSING) | models.Q(status=Status.PENDING, queued=True))
        .values_list("batch_id", flat=True)
    )
    queued = 0
    for batch_id in waiting - busy:
        with transaction.atomic():
            queued += queue_next(Image.objects.filter(batch_id=batch_id)) is not None
    return queued


def _enqueue_on_commit(image: Image, *, flagged: bool = False) -> None:
    """Queue the image's task once the current transaction commits; fail the image if the broker is down.

    ``flagged``: the caller already set its ``queued`` flag (claiming it).
    """
    if not flagged:
        Image.objects.filter(pk=image.pk).update(queued=True)

    def send() -> None:
        try:
            if image.original:
                task_id = async_task(TASK, str(image.pk), task_name=f"upscale-{image.pk}", hook=TASK_HOOK,
                                     timeout=image.time_limit)  # fmt: skip
            else:  # its URL first: the fetch admits it (admit), which queues the job
                task_id = async_task(FETCH_TASK, str(image.pk), task_name=f"fetch-{image.pk}", hook=TASK_HOOK,
                                     timeout=FETCH_TIME_LIMIT)  # fmt: skip
        except Exception:
            # The upload is stored; the client must not get a 500 for it, but must learn
            # that nothing will process it.
            log.exception("Could not queue image %s", image.pk)
            fail(image, "The task queue is unavailable; please upload the image again.")
            return
        Image.objects.filter(pk=image.pk).update(task_id=task_id, queued_at=timezone.now())

    transaction.on_commit(send)


def requeue_lost() -> int:
    """Send the task of each :meth:`~images.models.ImageQuerySet.lost` image again, if the task queue is
    empty; how many.

    The sweep's safety net for tasks that left the broker without reaching a worker: a
    Redis that restarted without its data, or a cluster killed with tasks it had taken
    from the queue but not yet started. Their images would wait as ``pending`` for ever.
    A task still held by a live cluster may be sent twice this way; the second is
    skipped by :func:`claim`.
    """
    if get_broker().queue_size():
        return 0  # the images may be waiting their turn in it
    lost = list(Image.objects.lost())
    for image in lost:
        _enqueue_on_commit(image, flagged=True)
    return len(lost)


# --- the worker's moves ---------------------------------------------------------------------------------


def claim(image: Image, worker: str = "") -> bool:
    """pending → processing by ``worker`` (its host and process id); False if someone else already moved it
    (or it is gone)."""
    now = timezone.now()
    with transaction.atomic():
        if not Image.objects.move(image.pk, [Status.PENDING], status=Status.PROCESSING, started_at=now,
                                  heartbeat_at=now, updated_at=now, worker=worker[:100],
                                  attempts=models.F("attempts") + 1):  # fmt: skip
            return False
        image.refresh_from_db()
        job_started.send(sender=Image, image=image)
    return True


@contextlib.contextmanager
def heartbeat(image: Image, every: float | None = None) -> Iterator[None]:
    """While the block runs, a thread records the worker's sign of life (``heartbeat_at``) every ``every``
    seconds (``HEARTBEAT_SECONDS``), whatever the job is doing (decoding, loading a model, a long tile).

    A worker that dies (SIGKILL, the out-of-memory killer, a lost host) stops beating, and the
    stall sweep (:func:`recover_stalled`) takes its image back after ``STALLED_AFTER_SECONDS``.
    """
    interval = every if every is not None else settings.HEARTBEAT_SECONDS
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(interval):
                Image.objects.filter(pk=image.pk, status=Status.PROCESSING).update(heartbeat_at=timezone.now())
        finally:
            db.connection.close()  # this thread's own connection

    thread = threading.Thread(target=beat, name=f"heartbeat-{image.pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


#: Why an image whose worker died twice failed.
WORKER_DIED = "The worker stopped while processing this image (twice); please try again."


def recover_stalled(image: Image) -> str:
    """An image whose worker died (:meth:`images.models.ImageQuerySet.stalled`): queued again once, on a
    live worker, or failed with its quota given back the second time. Returns ``"requeued"``,
    ``"failed"``, or ``""`` when it had moved on meanwhile.
    """
    if image.attempts < 2:
        now = timezone.now()
        with transaction.atomic():
            if Image.objects.move(image.pk, [Status.PROCESSING], status=Status.PENDING, started_at=None,
                                  heartbeat_at=None, progress=0, updated_at=now):  # fmt: skip
                image.status = Status.PENDING
                _enqueue_on_commit(image)
                return "requeued"
        return ""
    return "failed" if fail(image, WORKER_DIED) else ""


def choose_model(image: Image, model: str, reason: str) -> None:
    """Record the model ``auto`` chose once the worker saw the pixels (``model_used``, ``model_reason``)."""
    Image.objects.filter(pk=image.pk, status=Status.PROCESSING).update(model_used=model, model_reason=reason)
    image.model_used, image.model_reason = model, reason


def watch(image: Image, every: float = CANCEL_CHECK_SECONDS) -> Callable[[float], None]:
    """A ``progress`` callback for the pipeline: it records the job's ``progress`` (percent) and raises
    :class:`JobCancelled` once the job is void.

    It writes to the database at most once per ``every`` seconds, between tiles, in one
    UPDATE that only matches a job still processing: a cancelled 64 MP job stops within
    a tile or two instead of running to the end, and clients see its progress move.
    """
    last = time.monotonic()

    def check(fraction: float) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < every:
            return
        last = now
        percent = min(99, int(fraction * 100))  # 100 is for completed
        if not Image.objects.filter(pk=image.pk, status=Status.PROCESSING).update(progress=percent):
            raise JobCancelled(str(image.pk))

    return check


def complete(image: Image, content: IO[bytes], extension: str, *, width: int, height: int, fmt: str,
             scale_chain: list[int], seconds: float) -> bool:  # fmt: skip
    """Store the result file and move processing → completed.

    Args:
        content: the encoded result; ``extension`` its file extension (``"png"``).
        width, height: the result's size in pixels; ``fmt`` its format (``"PNG"``).
        scale_chain: the native network passes that made it; ``seconds`` how long.

    Returns:
        False, leaving no file behind, when the image was deleted or failed meanwhile.

    Raises:
        OSError, or the storage's own errors: the result could not be stored (a full disk,
        object storage down); nothing of it is left behind.
    """
    name = f"upscaled_{width}x{height}.{extension}"
    storage = image.upscaled.storage
    stored = storage.get_available_name(image.upscaled.field.generate_filename(image, name))
    try:
        stored = storage.save(stored, File(content, name=name))
        size = storage.size(stored)
    except BaseException:
        with contextlib.suppress(Exception):  # a disk that filled up mid-write leaves part of a file
            storage.delete(stored)
        raise
    now = timezone.now()
    with transaction.atomic():
        done = Image.objects.move(
            image.pk,
            [Status.PROCESSING],
            status=Status.COMPLETED,
            upscaled=stored,
            upscaled_size=size,
            upscaled_width=width,
            upscaled_height=height,
            upscaled_format=fmt,
            scale_chain=scale_chain,
            processing_time=round(seconds, 3),
            progress=100,
            error="",
            completed_at=now,
            updated_at=now,
        )
        if done:
            image.refresh_from_db()
            job_finished.send(sender=Image, image=image, completed=True, deleted=False)
    if not done:
        storage.delete(stored)
    return done


def fail(image: Image, reason: str, *, refund: bool = True) -> bool:
    """pending/processing → failed, with a reason for the user; False if it had already finished.

    Args:
        refund: give the image back to the month's quota (a failed image does not count).
    """
    now = timezone.now()
    with transaction.atomic():
        if not Image.objects.move(image.pk, Image.UNFINISHED, status=Status.FAILED, error=reason[:2000],
                                  completed_at=now, updated_at=now):  # fmt: skip
            return False
        if refund and image.quota_month:
            release_images(image.workspace_id, image.quota_month)
        image.status, image.error, image.completed_at = Status.FAILED, reason[:2000], now
        job_finished.send(sender=Image, image=image, completed=False, deleted=False)
    return True


# --- for a client that waits ----------------------------------------------------------------------------

#: The longest a request may wait for its image (``?wait=``), in seconds.
MAX_WAIT_SECONDS = 60


def wait_until_finished(image: Image, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``image`` to be completed or failed; whether it was. Refreshes ``image``.

    Each check is one short SELECT in autocommit, with sleeps growing from 0.1 s to 1 s
    between them: no transaction is held while waiting (the worker's updates must be
    visible, and the database must not keep a snapshot open for a minute), and nothing
    of the job runs here.

    Raises:
        RuntimeError: called inside a transaction.
    """
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("Waiting for a job inside a transaction would never see it finish.")
    deadline, pause = time.monotonic() + seconds, 0.1
    while True:
        status = Image.objects.filter(pk=image.pk).values_list("status", flat=True).first()
        remaining = deadline - time.monotonic()
        if status is None or status not in Image.UNFINISHED or remaining <= 0:
            break
        time.sleep(min(pause, remaining))
        pause = min(pause * 1.5, 1.0)
    if status is None:
        return False
    image.refresh_from_db()
    return status not in Image.UNFINISHED


# --- after the fact -------------------------------------------------------------------------------------


def retry(image: Image) -> bool:
    """Queue a failed image again: failed → pending, counted against this month's quota again.

    Returns:
        False when the image is not failed, or a ``job_requeued`` receiver refused (its
        batch was cancelled); nothing changes then.

    Raises:
        billing.quota.QuotaExceeded: the month's quota has no room; nothing changes.
    """
    with transaction.atomic():
        now = timezone.now()
        if not Image.objects.move(image.pk, [Status.FAILED], status=Status.PENDING, error="", started_at=None,
                                  completed_at=None, updated_at=now, progress=0):  # fmt: skip
            return False
        try:
            job_requeued.send(sender=Image, image=image)
        except RetryRefused as exc:
            log.info("Retry of image %s refused: %s", image.pk, exc)
            transaction.set_rollback(True)
            return False
        month = None if image.is_passthrough else reserve_images(image.workspace, 1)
        Image.objects.filter(pk=image.pk).update(quota_month=month)
        image.refresh_from_db()
        _enqueue_on_commit(image)
    return True


#: The file fields an expired image no longer has.
_FILES = ("original", "upscaled", "original_thumbnail", "result_thumbnail")


def expire(image: Image) -> bool:
    """completed/failed → expired: the files leave storage (once this commits), the record stays.

    Returns:
        False when the image was not finished (or is gone).
    """
    with transaction.atomic():
        if not Image.objects.move(image.pk, [Status.COMPLETED, Status.FAILED], status=Status.EXPIRED,
                                  updated_at=timezone.now(), **dict.fromkeys(_FILES, "")):  # fmt: skip
            return False
        # The row no longer names them, so a cached copy that still does keeps them (Image.delete_files).
        transaction.on_commit(image.delete_files)
        image.status = Status.EXPIRED
    return True


def expired_before(now: Any = None) -> Iterator[Image]:
    """Finished images older than their workspace's plan's ``retention_days`` (after ``completed_at``)."""
    now = now or timezone.now()
    shortest = min(Plan.objects.values_list("retention_days", flat=True), default=1)
    candidates = Image.objects.filter(status__in=[Status.COMPLETED, Status.FAILED],
                                      completed_at__lt=now - timedelta(days=shortest))  # fmt: skip
    retention: dict[int, int] = {}
    for image in candidates.select_related("workspace").iterator():
        if image.workspace_id not in retention:
            retention[image.workspace_id] = limits_for(image.workspace).plan.retention_days
        if image.completed_at is not None and image.completed_at < now - timedelta(days=retention[image.workspace_id]):
            yield image


def forget(image: Image) -> None:
    """An image's row was deleted, whatever deleted it (API, page, admin, a workspace's cascade).

    Its files leave storage once the transaction commits (a rolled-back delete loses
    nothing); an unfinished one can never finish, so it counts as finished, failed.
    """
    transaction.on_commit(image.delete_files)
    if not image.is_finished:
        job_finished.send(sender=Image, image=image, completed=False, deleted=True)
