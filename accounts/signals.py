"""Every new user gets a personal workspace, however the user was created."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import User, Workspace, personal_workspace_name


@receiver(post_save, sender=User, dispatch_uid="accounts.personal_workspace")
def create_personal_workspace(sender, instance: User, created: bool, raw: bool = False, **kwargs) -> None:
    if created and not raw:
        Workspace.create_for(instance, personal_workspace_name(instance), personal=True)
