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
