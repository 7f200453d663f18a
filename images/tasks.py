"""Django-Q2 tasks: upscale one image, and fail images whose worker died.

PyTorch is imported inside the task, in the worker process, never at Django start-up:
the web process has no use for it, and a qcluster parent that imported it before
forking its workers would hand them a broken thread pool.
"""

from __future__ import annotations

import logging
import tempfile
import time

from django.conf import settings
from django.db import transaction
from django_q.tasks import async_task

from images.models import Image

log = logging.getLogger(__name__)

TASK = "images.tasks.upscale_image"
#: How often, in seconds, a running job checks whether its image was cancelled or deleted.
CANCEL_CHECK_SECONDS = 2.0


class JobCancelled(Exception):
    """The image stopped being ``processing`` under the worker (batch cancelled, image deleted)."""


def cancellation_check(image: Image, every: float = CANCEL_CHECK_SECONDS):
    """A ``progress`` callback for the pipeline that raises :class:`JobCancelled` when the job is void.

    It looks at the database at most once per ``every`` seconds, between tiles, so
    a cancelled 64 MP job stops within a tile or two instead of running to the end.
    """
    last = time.monotonic()

    def check(_fraction: float) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < every:
            return
        last = now
        if not Image.objects.filter(pk=image.pk, status=Image.Status.PROCESSING).exists():
            raise JobCancelled(str(image.pk))

    return check


def enqueue_upscale(image: Image) -> None:
    """Queue the upscaling of ``image`` once the current transaction commits."""

    def send() -> None:
        try:
            task_id = async_task(TASK, str(image.pk), task_name=f"upscale-{image.pk}", hook="images.tasks.on_task_done")
        except Exception:
            # The upload is stored; the client must not get a 500 for it, but must learn
            # that nothing will process it.
            log.exception("Could not queue image %s", image.pk)
            image.fail("The task queue is unavailable; please upload the image again.")
            return
        Image.objects.filter(pk=image.pk).update(task_id=task_id)

    transaction.on_commit(send)


def upscale_image(image_id: str) -> str:
    """Upscale the image with primary key ``image_id`` and store the result.

    pending -> processing -> completed, or -> failed with a reason the user can read.
    Returns the final status (for Django-Q2's result log).
    """
    from inference.catalog import UnknownModel
    from inference.imageio import FORMAT_EXTENSIONS, InvalidImage, encode, open_image
    from inference.pipeline import upscale_image as run_model
    from inference.tiling import InferenceError

    image = Image.objects.filter(pk=image_id).first()
    if image is None or not image.claim():
        return "skipped"
    try:
        max_pixels = int(settings.UPSCALE_MAX_OUTPUT_MEGAPIXELS * 1_000_000)
        with image.original.open("rb") as fh:
            source = open_image(fh, max_pixels=max_pixels)
        result = run_model(
            source.pixels,
            (image.target_width, image.target_height),
            model=image.model_used,
            max_quality=image.max_quality,
            progress=cancellation_check(image),
        )
        # Spool to disk past 64 MB so a 64 MP PNG does not sit in memory twice.
        with tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024) as buffer:
            fmt = encode(result.image, source, buffer)
            buffer.seek(0)
            width, height = result.size
            image.complete(
                buffer,
                FORMAT_EXTENSIONS[fmt],
                width=width,
                height=height,
                fmt=fmt,
                scale_chain=result.scale_chain,
                seconds=result.seconds,
            )
    except JobCancelled:
        log.info("Image %s was cancelled or deleted while processing; stopped", image_id)
        return "cancelled"
    except FileNotFoundError:
        image.fail("The original file is missing from storage.")
    except (InvalidImage, InferenceError, UnknownModel) as exc:
        image.fail(str(exc))
    except MemoryError:
        image.fail("The worker ran out of memory; try a smaller image or scale factor.")
    except Exception:
        log.exception("Upscaling image %s failed", image_id)
        image.fail("Processing failed because of an internal error.")
    return Image.objects.filter(pk=image.pk).values_list("status", flat=True).first() or "deleted"


def on_task_done(task) -> None:
    """Django-Q2 hook: if the task itself crashed, the image must not stay processing."""
    if task.success:
        return
    image_id = task.args[0] if task.args else None
    if image_id:
        for image in Image.objects.filter(pk=image_id):
            image.fail("The worker stopped while processing this image.")


def fail_stalled_images() -> int:
    """Scheduled every minute: fail images whose worker died or timed out mid-job."""
    count = 0
    for image in Image.stalled():
        if image.fail("Processing took too long or the worker stopped; please try again."):
            count += 1
    if count:
        log.warning("Failed %d stalled image(s)", count)
    return count
