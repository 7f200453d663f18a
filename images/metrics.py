"""The jobs' Prometheus metrics (served by :mod:`upscaler_site.metrics`).

Counted in the process where a job ends (a worker, or the web process that cancels or
serves a cached result), once its move commits:

``upscaler_jobs_finished_total{model, status}``
    jobs that ended: ``completed``, ``failed``, or ``deleted`` while unfinished.
``upscaler_processing_seconds{model}``
    histogram of a computed result's seconds of inference and encoding (``Image.processing_time``).
``upscaler_output_megapixels_total{model}``
    megapixels of computed results; ``rate()`` of it over ``rate()`` of the seconds' sum is the
    megapixels a fleet computes per second of processing.
``upscaler_output_megapixels_per_second{model}``
    histogram of each computed result's megapixels over its seconds.

Read from the database at scrape time, by the web tier only:

``upscaler_jobs{status}``
    images ``pending`` (waiting for a worker, or for their turn in a batch) and ``processing``.
``upscaler_oldest_pending_seconds``
    age of the oldest pending image: what a queue that does not move shows first.
``upscaler_queue_depth``
    tasks waiting in the Django-Q2 broker (upscale jobs and webhook deliveries).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import transaction
from django.db.models import Count, Min
from django.dispatch import receiver
from django.utils import timezone
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from images.jobs import job_finished
from images.models import Image

JOBS_FINISHED = Counter("upscaler_jobs_finished", "Jobs that ended, by model and status.", ["model", "status"])
PROCESSING_SECONDS = Histogram(
    "upscaler_processing_seconds",
    "Seconds of inference and encoding of a computed result, by model.",
    ["model"],
    buckets=(0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 3600),
)
OUTPUT_MEGAPIXELS = Counter("upscaler_output_megapixels", "Megapixels of computed results, by model.", ["model"])
MEGAPIXELS_PER_SECOND = Histogram(
    "upscaler_output_megapixels_per_second",
    "Each computed result's output megapixels over its processing seconds, by model.",
    ["model"],
    buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50),
)


def record_finished(image: Image, *, completed: bool, deleted: bool) -> None:
    """Count a job that ended; a computed result (not a cached or unchanged one) also adds its seconds
    and megapixels."""
    model = image.model_used or image.model
    status = "deleted" if deleted else "completed" if completed else "failed"
    JOBS_FINISHED.labels(model, status).inc()
    seconds = image.processing_time or 0.0
    if completed and seconds > 0 and image.upscaled_width and image.upscaled_height:
        megapixels = image.upscaled_width * image.upscaled_height / 1e6
        PROCESSING_SECONDS.labels(model).observe(seconds)
        OUTPUT_MEGAPIXELS.labels(model).inc(megapixels)
        MEGAPIXELS_PER_SECOND.labels(model).observe(megapixels / seconds)


@receiver(job_finished, sender=Image, dispatch_uid="images.metrics")
def _count_finished(sender: type[Image], image: Image, completed: bool, deleted: bool, **kwargs: Any) -> None:
    # On commit: a move that rolls back did not happen.
    transaction.on_commit(lambda: record_finished(image, completed=completed, deleted=deleted))


class JobsCollector(Collector):
    """``upscaler_jobs``, ``upscaler_oldest_pending_seconds`` and ``upscaler_queue_depth``, read at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django_q.brokers import get_broker

        unfinished = Image.objects.filter(status__in=Image.UNFINISHED)
        counts = dict(unfinished.values_list("status").annotate(n=Count("pk")).order_by())
        jobs = GaugeMetricFamily("upscaler_jobs", "Images waiting for a worker or being processed.",
                                 labels=["status"])  # fmt: skip
        for status in Image.UNFINISHED:
            jobs.add_metric([status], counts.get(status, 0))
        yield jobs
        oldest = unfinished.filter(status=Image.Status.PENDING).aggregate(at=Min("created_at"))["at"]
        yield GaugeMetricFamily("upscaler_oldest_pending_seconds", "Age of the oldest pending image (0: none).",
                                value=(timezone.now() - oldest).total_seconds() if oldest else 0)  # fmt: skip
        yield GaugeMetricFamily("upscaler_queue_depth", "Tasks waiting in the task broker.",
                                value=get_broker().queue_size() or 0)  # fmt: skip
