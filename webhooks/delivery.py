"""Sending a delivery: sign it (Standard Webhooks), POST it, log the attempt, schedule the next one.

Every attempt runs in the worker (:mod:`webhooks.tasks`), never in a web request, through
:func:`upscaler_site.outbound.session`: public addresses only unless
``OUTBOUND_ALLOWED_HOSTS`` names the host, no redirects followed, 10 s to connect and
between bytes.

Outcome of an attempt:

* a 2xx answer: delivered;
* 410 Gone from an endpoint: the endpoint is disabled, and nothing more is sent to it;
* anything else (another status, a timeout, a refused address): tried again after
  ``WEBHOOK_RETRY_DELAYS[n]`` seconds, each up to 20 % longer at random so a receiver
  coming back is not hit by every retry at once; once they are used up, the delivery failed.

The default delays are those of the Standard Webhooks guidance (5 s, 5 min, 30 min,
2 h, 5 h, 10 h, 10 h): eight attempts over 27.6 hours. Manual redelivery makes one
more attempt whatever the state.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from upscaler_site import outbound
from webhooks import endpoints, metrics, payloads
from webhooks.models import EXCERPT_LENGTH, Attempt, Delivery, RequestSigningKeys

log = logging.getLogger(__name__)

USER_AGENT = "Upscaler-Webhooks/1.0"
#: Each retry delay is multiplied by a random factor from 1 to 1 + JITTER (never shorter: the schedule's
#: total is a promise).
JITTER = 0.2
#: How long an attempt holds its delivery: a worker that dies mid-attempt leaves it due again after this.
LEASE = timedelta(seconds=2 * outbound.TIMEOUT + 30)


def sign(secrets: list[str], webhook_id: str, timestamp: datetime, body: bytes) -> str:
    """The ``webhook-signature`` header: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` per secret,
    space-separated."""
    return " ".join(Webhook(secret).sign(webhook_id, timestamp, body.decode()) for secret in secrets)


def next_delay(attempts: int) -> timedelta | None:
    """How long after its ``attempts``-th failed attempt a delivery is tried again; None: no more tries."""
    delays: list[int] = settings.WEBHOOK_RETRY_DELAYS
    if attempts > len(delays):
        return None
    return timedelta(seconds=delays[attempts - 1] * random.uniform(1, 1 + JITTER))


def claim(delivery_id: uuid.UUID | str, now: datetime | None = None) -> Delivery | None:
    """The delivery, if it is pending and due, leased to this worker for :data:`LEASE`; else None.

    A conditional UPDATE, so the first attempt's task and the periodic sweep never both send it.
    """
    now = now or timezone.now()
    if not Delivery.objects.due(now).filter(pk=delivery_id).update(next_attempt_at=now + LEASE):
        return None
    return Delivery.objects.select_related("endpoint").get(pk=delivery_id)


def attempt(delivery: Delivery, *, manual: bool = False) -> Attempt | None:
    """Make one attempt of ``delivery`` now and record it; None if its endpoint is disabled (it fails unsent).

    Args:
        manual: a redelivery someone asked for: it goes to a disabled endpoint too, and
            a failure does not schedule another attempt.
    """
    endpoint = delivery.endpoint
    if endpoint is not None and not endpoint.active and not manual:
        Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.FAILED, next_attempt_at=None)
        delivery.status = Delivery.Status.FAILED
        metrics.record_attempt(delivery)
        return None
    keys = endpoint if endpoint is not None else RequestSigningKeys.of(delivery.workspace_id)
    now = timezone.now()
    body = payloads.body(delivery, now)
    custom = endpoint.headers if endpoint is not None else delivery.headers
    headers = {
        **{name: value for name, value in custom.items() if name.lower() not in outbound.RESERVED_HEADERS},
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": delivery.webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": sign(keys.signing_secrets(), delivery.webhook_id, now, body),
    }
    started = time.monotonic()
    status_code: int | None = None
    try:
        with (
            outbound.session() as http,
            http.post(
                delivery.url, data=body, headers=headers, timeout=outbound.TIMEOUT, allow_redirects=False, stream=True
            ) as response,
        ):
            status_code = response.status_code
            excerpt = response.raw.read(EXCERPT_LENGTH, decode_content=True).decode("utf-8", "replace")
    except requests.RequestException as exc:
        excerpt = outbound.describe(exc)
    duration_ms = round((time.monotonic() - started) * 1000)
    log.info("webhook_attempt", extra={"type": delivery.event_type, "url": delivery.url, "status_code": status_code,
                                       "duration_ms": duration_ms, "attempt": delivery.attempts + 1})  # fmt: skip
    return _record(delivery, status_code, duration_ms, excerpt, manual=manual)


def _record(delivery: Delivery, status_code: int | None, duration_ms: int, excerpt: str, *, manual: bool) -> Attempt:
    with transaction.atomic():
        number = delivery.attempts + 1
        logged = Attempt.objects.create(
            delivery=delivery,
            number=number,
            status_code=status_code,
            duration_ms=duration_ms,
            response=excerpt[:EXCERPT_LENGTH],
            manual=manual,
        )
        changes: dict[str, object] = {"attempts": number}
        if logged.succeeded:
            changes |= {"status": Delivery.Status.SUCCEEDED, "next_attempt_at": None}
        elif status_code == 410:
            changes |= {"status": Delivery.Status.FAILED, "next_attempt_at": None}
            if delivery.endpoint is not None:
                endpoints.disable(delivery.endpoint, "The receiver answered 410 Gone.")
        elif not manual:
            delay = next_delay(number)
            changes |= (
                {"status": Delivery.Status.FAILED, "next_attempt_at": None}
                if delay is None
                else {"next_attempt_at": timezone.now() + delay}
            )
        Delivery.objects.filter(pk=delivery.pk).update(**changes)
        for name, value in changes.items():
            setattr(delivery, name, value)
    metrics.record_attempt(delivery)
    return logged
