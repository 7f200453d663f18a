"""Django-Q2 tasks: upscale one image, and fail images whose worker died. They move images through :mod:`images.jobs`.

PyTorch is imported inside the task, in the worker process, never at Django start-up:
the web process has no use for it, and a qcluster parent that imported it before
forking its workers would hand them a broken thread pool.
"""

from __future__ import annotations

import logging
import tempfile
from typing import Any

from django.conf import settings

from images import jobs
from images.models import Image

log = logging.getLogger(__name__)


def upscale_image(image_id: str) -> str:
    """Upscale the image with primary key ``image_id`` and store the result.

    pending -> processing -> completed, or -> failed with a reason the user can read.
    Returns the final status (for Django-Q2's result log).
    """
    from inference import FORMAT_EXTENSIONS, InferenceError, InvalidImage, UnknownModel, open_image
    from inference.pipeline import upscale_source

    image = Image.objects.filter(pk=image_id).first()
    if image is None or not jobs.claim(image):
        return "skipped"
    try:
        max_pixels = int(settings.UPSCALE_MAX_OUTPUT_MEGAPIXELS * 1_000_000)
        with image.original.open("rb") as fh:
            source = open_image(fh, max_pixels=max_pixels)  # type: ignore[arg-type]  # a File reads like one
        # Spool to disk past 64 MB so a 64 MP PNG does not sit in memory twice.
        with tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024) as buffer:
            result, fmt = upscale_source(
                source,
                (image.target_width, image.target_height),
                buffer,  # type: ignore[arg-type]
                model=image.model_used,
                max_quality=image.max_quality,
                progress=jobs.watch(image),
            )
            buffer.seek(0)
            width, height = result.size
            jobs.complete(image, buffer, FORMAT_EXTENSIONS[fmt], width=width, height=height, fmt=fmt,
                          scale_chain=result.scale_chain, seconds=result.seconds)  # fmt: skip
    except jobs.JobCancelled:
        log.info("Image %s was cancelled or deleted while processing; stopped", image_id)
        return "cancelled"
    except FileNotFoundError:
        jobs.fail(image, "The original file is missing from storage.")
    except (InvalidImage, InferenceError, UnknownModel) as exc:
        jobs.fail(image, str(exc))
    except MemoryError:
        jobs.fail(image, "The worker ran out of memory; try a smaller image or scale factor.")
    except Exception:
        log.exception("Upscaling image %s failed", image_id)
        jobs.fail(image, "Processing failed because of an internal error.")
    return Image.objects.filter(pk=image.pk).values_list("status", flat=True).first() or "deleted"


def on_task_done(task: Any) -> None:
    """Django-Q2 hook: if the task itself crashed, the image must not stay processing."""
    if task.success:
        return
    image_id = task.args[0] if task.args else None
    if image_id:
        for image in Image.objects.filter(pk=image_id):
            jobs.fail(image, "The worker stopped while processing this image.")


def fail_stalled_images() -> int:
    """Scheduled every minute: fail images whose worker died or timed out mid-job."""
    count = sum(
        jobs.fail(image, "Processing took too long or the worker stopped; please try again.")
        for image in Image.objects.stalled()
    )
    if count:
        log.warning("Failed %d stalled image(s)", count)
    return count
