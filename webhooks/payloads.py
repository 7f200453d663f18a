"""What a webhook carries: ``{"type", "timestamp", "data"}``, ``data`` being the object the API returns.

An image event's ``data`` is what ``GET /api/images/{id}`` answers and a batch
event's what ``GET /api/batches/{id}`` answers, rendered at each attempt so a
``download_url`` is always fresh (a retry hours later would carry an expired one).
Links are absolute, on ``SITE_URL``: there is no request to take the host from.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from batches.models import Batch
from batches.serializers import BatchSerializer
from images import examples
from images.models import Image
from images.serializers import ImageSerializer
from webhooks.models import Delivery


def render_image(image: Image) -> dict[str, Any]:
    data: dict[str, Any] = ImageSerializer(image).data
    return data


def render_batch(batch: Batch) -> dict[str, Any]:
    data: dict[str, Any] = BatchSerializer(batch).data
    return data


def sample_image() -> dict[str, Any]:
    """The image a test event is about: the documented example of a completed image."""
    return dict(examples.COMPLETED)


def body(delivery: Delivery, timestamp: datetime) -> bytes:
    """The JSON body of an attempt of ``delivery`` made at ``timestamp``.

    ``data`` is the image or batch as it is now, or the snapshot taken when the event
    happened if it has been deleted since. A test event has ``"test": true``.
    """
    data: dict[str, Any] = delivery.snapshot
    if delivery.image_id is not None:
        image = Image.objects.filter(pk=delivery.image_id).first()
        data = render_image(image) if image else data
    elif delivery.batch_id is not None:
        batch = Batch.objects.filter(pk=delivery.batch_id).prefetch_related("images").first()
        data = render_batch(batch) if batch else data
    payload: dict[str, Any] = {"type": delivery.event_type, "timestamp": timestamp.isoformat(), "data": data}
    if delivery.is_test:
        payload["test"] = True
    return json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":")).encode()
