"""Django-Q2 tasks: upscale one image, and fail images whose worker died. They move images through :mod:`images.jobs`.

PyTorch is imported inside the task, in the worker process, never at Django start-up:
the web process has no use for it, and a qcluster parent that imported it before
forking its workers would hand them a broken thread pool.

The web tier only read the upload's header; the worker decodes it, so a file damaged
inside its pixel data fails here, with its quota given back.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import tempfile
from collections import Counter
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django_q.exceptions import TimeoutException

from billing.quota import PlanLimit, limits_for
from images import jobs
from images.files import url_filename
from images.models import Image
from images.thumbnails import preview_jpeg
from upscaler_site import logs, outbound
from upscaler_site.health import unavailable_services

if TYPE_CHECKING:
    from inference import SourceImage

log = logging.getLogger(__name__)

#: Why a job whose files could not be read or written failed (with a refund: not the image's doing).
STORAGE_FAILED = "The file storage failed while processing this image (it is unavailable or full); please try again."
#: Why a job that ran out of time failed. No refund: a job is admitted with a time limit its
#: size needs with a margin, so running past it is not the service's doing.
TIMED_OUT = "Processing took longer than this image's time limit and was stopped."


def storage_errors() -> tuple[type[BaseException], ...]:
    """What reading or writing an image's files raises when the storage (not the image) is at fault: a full
    or failing disk, object storage that does not answer."""
    return (OSError, *unavailable_services())


def upscale_image(image_id: str) -> str:
    """Upscale the image with primary key ``image_id`` and store the result.

    pending -> processing -> completed, or -> failed with a reason the user can read.
    Returns the final status (for Django-Q2's result log).
    """
    image = Image.objects.filter(pk=image_id).first()
    if image is None:
        return "skipped"
    with logs.bound(request_id=image.request_id, image_id=image_id):
        return _run(image)


def _run(image: Image) -> str:
    from inference import InferenceError, InvalidImage, UnknownModel, open_image

    image_id = str(image.pk)
    if not jobs.claim(image, worker=f"{socket.gethostname()}:{os.getpid()}"):
        return "skipped"
    log.info("job_started", extra={"model": image.model_used or image.model, "attempt": image.attempts})
    try:
        with jobs.heartbeat(image):
            max_pixels = int(settings.UPSCALE_MAX_OUTPUT_MEGAPIXELS * 1_000_000)
            with image.original.open("rb") as fh:
                source = open_image(fh, max_pixels=max_pixels)  # type: ignore[arg-type]  # a File reads like one
            image.store_thumbnail("original_thumbnail", preview_jpeg(source.image))
            if not image.model_used:  # "auto": chosen now that the pixels are here
                choice = source.auto_choice()
                jobs.choose_model(image, choice.model, choice.reason)
            if image.is_passthrough and image.encode_format in (None, image.original_format):
                _complete_unchanged(image, source)
            else:
                _upscale(image, source)
    except TimeoutException:
        jobs.fail(image, TIMED_OUT, refund=False)
        raise  # Django-Q2 replaces the worker process, which may hold a half-finished pass's memory
    except jobs.JobCancelled:
        log.info("Image %s was cancelled or deleted while processing; stopped", image_id)
        return "cancelled"
    except FileNotFoundError:
        jobs.fail(image, "The original file is missing from storage.")
    except (InvalidImage, InferenceError, UnknownModel) as exc:
        jobs.fail(image, str(exc))
    except storage_errors() as exc:
        log.warning("Image %s failed on storage: %s: %s", image_id, type(exc).__name__, exc)
        jobs.fail(image, STORAGE_FAILED)
    except MemoryError:
        jobs.fail(image, "The worker ran out of memory; try a smaller image or scale factor.")
    except Exception:
        log.exception("Upscaling image %s failed", image_id)
        jobs.fail(image, "Processing failed because of an internal error.")
    status = Image.objects.filter(pk=image.pk).values_list("status", flat=True).first() or "deleted"
    log.info("job_finished", extra={"status": status})
    return status


def fetch_image(image_id: str) -> str:
    """Fetch a pending image from its URL, then admit it (:func:`images.jobs.admit`), which queues its job.

    The fetch goes through :mod:`upscaler_site.outbound` (public addresses only, every
    redirect checked, ``UPSCALE_MAX_UPLOAD_BYTES`` enforced while streaming). The image
    is then held to the same rules as an upload, under the workspace's limits of now.
    Anything refused fails the image, with the reason, and gives its quota back.
    """
    image = Image.objects.filter(pk=image_id, status=Image.Status.PENDING).select_related("workspace").first()
    if image is None or image.original:
        return "skipped"
    with logs.bound(request_id=image.request_id, image_id=image_id):
        return _fetch(image)


def _fetch(image: Image) -> str:
    from inference import InvalidImage, SizeError, probe_image

    limits = limits_for(image.workspace)
    try:
        content = outbound.fetch(image.source_url, settings.UPSCALE_MAX_UPLOAD_BYTES)
        header = probe_image(io.BytesIO(content), max_pixels=limits.max_input_pixels)
        options = jobs.resolve(header.size, jobs.request_of(image), limits)
        limits.check_submit(options.factor, batch=image.batch_id is not None)
    except outbound.FetchError as exc:
        jobs.fail(image, f"The image could not be fetched from its URL: {exc}")
        return "failed"
    except (InvalidImage, SizeError, PlanLimit) as exc:
        jobs.fail(image, f"The image at the URL was refused: {exc}")
        return "failed"
    jobs.admit(image, content, header.format, options, url_filename(image.source_url, header.format))
    return "fetched"


def _upscale(image: Image, source: SourceImage) -> None:
    from inference import FORMAT_EXTENSIONS
    from inference.pipeline import upscale_source

    # Spool to disk past 64 MB so a 64 MP PNG does not sit in memory twice.
    with tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024) as buffer:
        result, fmt = upscale_source(
            source,
            image.output_size,
            buffer,  # type: ignore[arg-type]
            model=image.model_used,
            max_quality=image.max_quality,
            progress=jobs.watch(image),
            fmt=image.encode_format,
            quality=image.output_quality,
            keep_metadata=image.keep_metadata,
            tune_colors=image.tune_colors,
        )
        buffer.seek(0)
        width, height = result.size
        log.info("job_upscaled", extra={"device": result.device, "seconds": round(result.seconds, 2),
                                        "scale_chain": result.scale_chain, "engines": result.engines})  # fmt: skip
        if jobs.complete(image, buffer, FORMAT_EXTENSIONS[fmt], width=width, height=height, fmt=fmt,
                         scale_chain=result.scale_chain, seconds=result.seconds):  # fmt: skip
            image.store_thumbnail("result_thumbnail", preview_jpeg(result.image))


def _complete_unchanged(image: Image, source: SourceImage) -> None:
    """The input already fills its box and keeps its format: the result is the upload, byte for byte."""
    from inference import FORMAT_EXTENSIONS

    width, height = source.size
    with image.original.open("rb") as original:
        if jobs.complete(image, original, FORMAT_EXTENSIONS[image.original_format], width=width, height=height,
                         fmt=image.original_format, scale_chain=[], seconds=0.0):  # fmt: skip
            image.store_thumbnail("result_thumbnail", preview_jpeg(source.image))


def on_task_done(task: Any) -> None:
    """Django-Q2 hook: if the task itself crashed, the image must not stay processing.

    A task Django-Q2 stopped for its time limit fails without a refund, like one that
    noticed it itself (:data:`TIMED_OUT`).
    """
    if task.success:
        return
    image_id = task.args[0] if task.args else None
    timed_out = "timeout" in str(getattr(task, "result", "")).lower()
    if image_id:
        for image in Image.objects.filter(pk=image_id):
            if timed_out:
                jobs.fail(image, TIMED_OUT, refund=False)
            else:
                jobs.fail(image, "The worker stopped while processing this image.")


def fail_stalled_images() -> int:
    """Scheduled every minute: take back images whose worker died mid-job (:func:`images.jobs.recover_stalled`:
    queued again once, then failed with their quota given back), queue the next image of a batch left
    waiting (:func:`images.jobs.queue_stranded`), and send again the tasks the broker lost
    (:func:`images.jobs.requeue_lost`). Returns how many images it moved."""
    outcomes = Counter(jobs.recover_stalled(image) for image in Image.objects.stalled())
    outcomes["stranded"] = jobs.queue_stranded()
    outcomes["lost"] = jobs.requeue_lost()
    outcomes = +outcomes  # drop the zero counts
    outcomes.pop("", None)
    if outcomes:
        log.warning("Stalled images: %s", dict(outcomes))
    return sum(outcomes.values())


def expire_old_images() -> int:
    """Scheduled hourly: delete the files of images older than their plan's retention (``expired``); how many."""
    count = sum(jobs.expire(image) for image in jobs.expired_before())
    if count:
        log.info("Expired %d image(s)", count)
    return count
