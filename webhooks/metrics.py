"""Webhook deliveries' Prometheus metrics (served by :mod:`upscaler_site.metrics`).

``upscaler_webhook_attempts_total{outcome}``
    counted by the worker that made the attempt: ``succeeded`` and ``failed`` end a delivery
    (failed: the retries ran out, the receiver answered 410, or its endpoint was disabled, and
    the delivery was not sent), ``retrying`` means another attempt is scheduled. Deliveries
    by outcome are the ``succeeded`` and ``failed`` series.
``upscaler_webhook_deliveries_pending``
    read from the database at scrape time, by the web tier: deliveries still to be made.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from webhooks.models import Delivery

ATTEMPTS = Counter("upscaler_webhook_attempts", "Webhook delivery attempts, by outcome.", ["outcome"])


def record_attempt(delivery: Delivery) -> None:
    """Count an attempt of ``delivery`` from the status it was left in."""
    outcome = {Delivery.Status.SUCCEEDED: "succeeded", Delivery.Status.FAILED: "failed"}.get(
        Delivery.Status(delivery.status), "retrying"
    )
    ATTEMPTS.labels(outcome).inc()


class DeliveriesCollector(Collector):
    """``upscaler_webhook_deliveries_pending``, read at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("upscaler_webhook_deliveries_pending", "Webhook deliveries still to be made.",
                                value=Delivery.objects.filter(status=Delivery.Status.PENDING).count())  # fmt: skip
