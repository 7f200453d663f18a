"""Stripe webhooks: the endpoint, signature verification, replay protection, and the handled types.

Each event is processed once: its id is stored in :class:`~billing.models.WebhookEvent`
in the same transaction as its effects, so a failure rolls both back and Stripe's retry
processes it again, while a replay of a processed event changes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import stripe
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing import stripe_sync
from billing.models import WebhookEvent

logger = logging.getLogger(__name__)


class BadWebhook(Exception):
    """The payload is not a Stripe event signed with our webhook secret."""


# Each handler syncs from Stripe's current state (billing.stripe_sync), never from the payload alone.
HANDLERS: dict[str, Callable[[dict[str, Any]], object]] = {
    "checkout.session.completed": stripe_sync.link_checkout_session,
    "customer.subscription.created": stripe_sync.subscription_event,
    "customer.subscription.updated": stripe_sync.subscription_event,
    "customer.subscription.deleted": stripe_sync.subscription_event,
    "customer.subscription.trial_will_end": stripe_sync.subscription_event,
    "invoice.payment_failed": stripe_sync.invoice_event,
    "invoice.paid": stripe_sync.invoice_event,
    "invoice.payment_succeeded": stripe_sync.invoice_event,
}


def verify(payload: bytes, signature: str) -> dict:
    """The event in ``payload`` if ``signature`` (the ``Stripe-Signature`` header) is valid.

    Raises:
        BadWebhook: no webhook secret is configured, the signature is wrong or too old,
            or the payload is not an event.
    """
    secret = getattr(settings, "STRIPE_WEBHOOK_SECRET", "")
    if not secret:
        raise BadWebhook("Webhooks are not configured.")
    try:
        stripe.Webhook.construct_event(payload, signature, secret)
        event = json.loads(payload)
    except (stripe.SignatureVerificationError, ValueError) as exc:
        raise BadWebhook(str(exc)) from None
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        raise BadWebhook("Not a Stripe event.")
    return event


def process(event: dict) -> str:
    """Apply a verified event once; returns ``"processed"``, ``"duplicate"`` or ``"ignored"``."""
    handler = HANDLERS.get(event["type"])
    with transaction.atomic():
        _, created = WebhookEvent.objects.get_or_create(event_id=event["id"], defaults={"type": event["type"][:100]})
        if not created:
            return "duplicate"
        if handler is None:
            return "ignored"
        handler(((event.get("data") or {}).get("object")) or {})
    logger.info("Stripe event %s (%s) processed", event["id"], event["type"])
    return "processed"


@csrf_exempt
@require_POST
def receive(request: HttpRequest) -> HttpResponse:
    """``POST /billing/webhook``: Stripe's events, signature verified; 400 for a bad one."""
    try:
        event = verify(request.body, request.headers.get("Stripe-Signature", ""))
    except BadWebhook as exc:
        return HttpResponseBadRequest(str(exc))
    return JsonResponse({"received": True, "result": process(event)})
