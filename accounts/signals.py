"""Every new user gets a personal workspace and takes the workspaces they own along when deleted,
however the user was created or deleted (sign-up, admin, shell); and a change of password or
email address revokes every API token of the account."""

from typing import Any

from allauth.account import signals as allauth_signals
from allauth.account.models import EmailAddress
from django.contrib import messages
from django.db.models.signals import post_save, pre_delete
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User, Workspace, personal_workspace_name

#: What the page (and the notification email) say after the tokens were revoked.
TOKENS_REVOKED = "Every API token of your account was revoked: create new ones on the tokens page."


@receiver(post_save, sender=User, dispatch_uid="accounts.personal_workspace")
def create_personal_workspace(sender: type[User], instance: User, created: bool, raw: bool = False,
                              **kwargs: Any) -> None:  # fmt: skip
    if created and not raw:
        Workspace.create_for(instance, personal_workspace_name(instance), personal=True)


@receiver(post_save, sender=EmailAddress, dispatch_uid="accounts.email_verified_at")
def record_when_the_address_was_verified(sender: type[EmailAddress], instance: EmailAddress, **kwargs: Any) -> None:
    """``User.email_verified_at``: set when the account's own address becomes verified (by its link, or
    by staff), cleared when the account's address is not a verified one any more."""
    if not instance.primary:
        return
    user = instance.user
    verified = instance.verified and instance.email.lower() == user.email.lower()
    if verified and user.email_verified_at is None:
        User.objects.filter(pk=user.pk).update(email_verified_at=timezone.now())
    elif not verified and user.email_verified_at is not None:
        User.objects.filter(pk=user.pk).update(email_verified_at=None)


@receiver(pre_delete, sender=User, dispatch_uid="accounts.delete_owned_workspaces")
def delete_owned_workspaces(sender: type[User], instance: User, **kwargs: Any) -> None:
    # Their images go with them, and the files once the transaction commits (images.jobs.forget).
    for workspace in instance.owned_workspaces():
        workspace.delete()


@receiver(allauth_signals.password_changed, dispatch_uid="accounts.revoke_on_password_changed")
@receiver(allauth_signals.password_set, dispatch_uid="accounts.revoke_on_password_set")
@receiver(allauth_signals.password_reset, dispatch_uid="accounts.revoke_on_password_reset")
@receiver(allauth_signals.email_changed, dispatch_uid="accounts.revoke_on_email_changed")
def revoke_tokens_after_a_credential_change(sender: Any, request: HttpRequest | None, user: User,
                                            **kwargs: Any) -> None:  # fmt: skip
    """A token must not outlive the password or address it was minted under: someone who learned the
    old password, or registered the address before its owner, keeps nothing.

    allauth also sends ``email_changed`` when a new account's first address is verified (there
    is no address it changed from); that is no change, and the account's first token stays.
    """
    if sender is EmailAddress and kwargs.get("from_email_address") is None:
        return
    if user.api_tokens.revoke() and request is not None:
        messages.warning(request, TOKENS_REVOKED)
