"""Signal receivers: an image's row deleted, whatever deleted it (API, page, admin, a workspace's cascade):
:func:`images.jobs.forget`; a worker process started: :func:`inference.warmup.warm_up`."""

import logging
from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django_q.signals import post_spawn

from images import jobs
from images.models import Image

log = logging.getLogger(__name__)


@receiver(post_delete, sender=Image, dispatch_uid="images.forget")
def forget_deleted_image(sender: type[Image], instance: Image, **kwargs: Any) -> None:
    jobs.forget(instance)


@receiver(post_spawn, dispatch_uid="images.warm_up")
def warm_up_worker(sender: Any, proc_name: str, **kwargs: Any) -> None:
    """Warm a new worker process up (``UPSCALE_WARM_MODELS``) before it reads the queue."""
    if not settings.UPSCALE_WARM_MODELS:
        return
    from inference.device import default_device
    from inference.warmup import warm_up

    try:
        seconds = warm_up(settings.UPSCALE_WARM_MODELS)
        log.info("worker_warmed", extra={"worker_process": proc_name, "device": str(default_device()),
                                         "seconds": {name: round(s, 2) for name, s in seconds.items()}})  # fmt: skip
    except Exception:  # an exception here would stop the process; a job that needs the model says why
        log.exception("worker_warm_up_failed")
