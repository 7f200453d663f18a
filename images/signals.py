"""An image's files leave storage once its row is deleted, whatever deleted it.

The API, the admin and cascades (a workspace or an account being deleted) all go
through here. Deleting the files only after the transaction commits means a
rolled-back delete loses nothing.
"""

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from images.models import Image


@receiver(post_delete, sender=Image, dispatch_uid="images.delete_files")
def delete_files_after_commit(sender, instance: Image, **kwargs) -> None:
    transaction.on_commit(instance.delete_files)


@receiver(post_delete, sender=Image, dispatch_uid="images.settle_batch")
def count_unfinished_image_of_a_batch_as_failed(sender, instance: Image, **kwargs) -> None:
    """An image deleted before it finished can never finish: its batch counts it as failed, or it would
    wait for it forever. (When the batch itself is being deleted the UPDATE finds no row to change.)"""
    if instance.batch_id and not instance.is_finished:
        from batches.models import Batch

        Batch.record_outcome(instance.batch_id, completed=False)
