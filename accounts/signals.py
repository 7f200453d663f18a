"""Every new user gets a personal workspace, and takes the workspaces they own along when
deleted, however the user was created or deleted (sign-up, admin, shell)."""

from django.db.models.signals import post_save, pre_delete
from django.dispatch import receiver

from accounts.models import User, Workspace, personal_workspace_name


@receiver(post_save, sender=User, dispatch_uid="accounts.personal_workspace")
def create_personal_workspace(sender, instance: User, created: bool, raw: bool = False, **kwargs) -> None:
    if created and not raw:
        Workspace.create_for(instance, personal_workspace_name(instance), personal=True)


@receiver(pre_delete, sender=User, dispatch_uid="accounts.delete_owned_workspaces")
def delete_owned_workspaces(sender, instance: User, **kwargs) -> None:
    # Their images go with them, and the files once the transaction commits (images.jobs.forget).
    for workspace in instance.owned_workspaces():
        workspace.delete()
