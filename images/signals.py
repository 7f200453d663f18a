"""An image's row deleted, whatever deleted it (API, page, admin, a workspace's cascade): :func:`images.jobs.forget`."""

from typing import Any

from django.db.models.signals import post_delete
from django.dispatch import receiver

from images import jobs
from images.models import Image


@receiver(post_delete, sender=Image, dispatch_uid="images.forget")
def forget_deleted_image(sender: type[Image], instance: Image, **kwargs: Any) -> None:
    jobs.forget(instance)
