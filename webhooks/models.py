"""Webhook endpoints, the events sent to them, and each attempt to deliver one.

What creates deliveries is :mod:`webhooks.events`; what sends them, :mod:`webhooks.delivery`.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import datetime, timedelta

from django.db import models
from django.utils import timezone

from accounts.models import Workspace

#: Standard Webhooks secrets: ``whsec_`` and the base64 of 24 random bytes.
SECRET_PREFIX = "whsec_"
#: How long a rotated-out secret still signs deliveries beside the new one, so receivers can switch over.
ROTATION_OVERLAP = timedelta(hours=24)
#: Characters of a receiver's answer kept in the delivery log.
EXCERPT_LENGTH = 1000


def new_secret() -> str:
    """A new signing secret, ``whsec_`` + base64 of 192 random bits (what ``standardwebhooks.Webhook`` reads)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


class EventType(models.TextChoices):
    IMAGE_COMPLETED = "image.completed"
    IMAGE_FAILED = "image.failed"
    BATCH_COMPLETED = "batch.completed"
    BATCH_PARTIALLY_FAILED = "batch.partially_failed"
    BATCH_FAILED = "batch.failed"
    BATCH_CANCELLED = "batch.cancelled"


#: The event a "send a test event" delivers: an image.completed about a sample image.
TEST_EVENT = EventType.IMAGE_COMPLETED


class SigningKeys(models.Model):
    """The secret(s) a delivery is signed with: the current one and, for a day after a rotation, the previous."""

    secret = models.CharField(max_length=64, default=new_secret)
    previous_secret = models.CharField(max_length=64, blank=True)
    previous_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    def rotate(self) -> str:
        """A new secret; the old one keeps signing for :data:`ROTATION_OVERLAP`. Returns the new secret."""
        self.previous_secret, self.previous_expires_at = self.secret, timezone.now() + ROTATION_OVERLAP
        self.secret = new_secret()
        self.save(update_fields=["secret", "previous_secret", "previous_expires_at"])
        return self.secret

    def signing_secrets(self) -> list[str]:
        """The secrets to sign with now: every one a receiver may still be verifying against."""
        keys = [self.secret]
        if self.previous_secret and self.previous_expires_at and self.previous_expires_at > timezone.now():
            keys.append(self.previous_secret)
        return keys


class EndpointQuerySet(models.QuerySet["Endpoint"]):
    def in_workspace(self, workspace: Workspace) -> EndpointQuerySet:
        """The endpoints of ``workspace``: every endpoint query of the API and the pages goes through here."""
        return self.filter(workspace=workspace)

    def subscribed(self, workspace_id: int, event: str) -> list[Endpoint]:
        """The active endpoints of a workspace that want ``event`` (compared in Python: a handful each)."""
        return [e for e in self.filter(workspace_id=workspace_id, active=True) if event in e.events]


class Endpoint(SigningKeys):
    """A URL of a workspace's that receives the events it subscribed to, signed with its own secret."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=255, blank=True)
    events = models.JSONField(default=list, help_text="Event types it receives.")
    headers = models.JSONField(default=dict, blank=True, help_text="Extra HTTP headers sent with every delivery.")
    active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = EndpointQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.url


class RequestSigningKeys(SigningKeys):
    """The secret that signs a workspace's per-request webhooks (``webhook_url`` on an upload)."""

    workspace = models.OneToOneField(
        "accounts.Workspace", on_delete=models.CASCADE, primary_key=True, related_name="request_webhook_keys"
    )

    def __str__(self) -> str:
        return f"Request webhook keys of workspace {self.workspace_id}"

    @classmethod
    def of(cls, workspace_id: int) -> RequestSigningKeys:
        keys, _ = cls.objects.get_or_create(workspace_id=workspace_id)
        return keys


class DeliveryQuerySet(models.QuerySet["Delivery"]):
    def due(self, now: datetime | None = None) -> DeliveryQuerySet:
        """Pending deliveries whose next attempt is due."""
        return self.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now or timezone.now())


class Delivery(models.Model):
    """One event for one receiver: an endpoint, or the ``webhook_url`` of the request that made the event.

    Its ``id`` is the ``webhook-id`` header, the same on every attempt, so receivers can
    drop duplicates. The body is rendered at each attempt from the image or batch (a
    fresh ``download_url``); ``snapshot`` is the object as it was when the event happened,
    sent if the object has been deleted since.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries")
    url = models.URLField(max_length=2000, help_text="Where it goes: the endpoint's URL, or the request's webhook_url.")
    headers = models.JSONField(default=dict, blank=True, help_text="A request webhook's own extra headers.")
    event_type = models.CharField(max_length=40, choices=EventType.choices)
    image_id = models.UUIDField(null=True, blank=True)
    batch_id = models.UUIDField(null=True, blank=True)
    snapshot = models.JSONField(default=dict)
    request_id = models.CharField(max_length=64, blank=True, help_text="The upload's request id, in the logs.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(
        default=timezone.now,
        null=True,
        blank=True,
        db_index=True,
        help_text="When it is tried next; none once delivered or given up.",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.event_type} → {self.url}"

    @property
    def webhook_id(self) -> str:
        return f"msg_{self.id.hex}"

    @property
    def is_test(self) -> bool:
        """A "send a test event" delivery: about no real image or batch."""
        return self.image_id is None and self.batch_id is None


class Attempt(models.Model):
    """One HTTP request of a delivery, as the delivery log shows it."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True, help_text="None: no HTTP answer.")
    duration_ms = models.PositiveIntegerField()
    response = models.TextField(blank=True, help_text="The start of the answer's body, or why there was none.")
    manual = models.BooleanField(default=False, help_text="A redelivery someone asked for.")

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"Attempt {self.number}: {self.status_code or 'no answer'}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
