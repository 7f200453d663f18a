"""Prometheus metrics: what ``GET /metrics`` (web hosts) and ``manage.py metrics`` (worker hosts) serve.

Two kinds, kept apart on purpose:

* **Counted where it happens**, in the process that did it: django-prometheus's request
  metrics, and the apps' counters and histograms (``images.metrics``, ``webhooks.metrics``).
  gunicorn and Django-Q2 run several processes, so with ``PROMETHEUS_MULTIPROC_DIR`` set
  (prometheus_client's own variable: an empty folder per service, emptied when it starts) each
  process writes its values there and the exposition adds them up for the host. Without it,
  a process serves only its own values: enough for ``runserver``, not for gunicorn's workers.
* **Read from the database at scrape time** (:func:`register_state`): how many images wait
  or run, the task queue's length. Shared state, the same whichever host answers, so only
  the web tier serves it: worker hosts would repeat it.

``/metrics`` answers ``Authorization: Bearer <METRICS_TOKEN>``; without ``METRICS_TOKEN`` it
is off (404). It is outside ``/api/``: no envelope, no rate limit.
"""

from __future__ import annotations

import hmac
import os

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.registry import Collector

_state: list[Collector] = []


def register_state(collector: Collector) -> None:
    """Add a collector of shared state (database counts) to what the web tier's ``/metrics`` serves.

    Called from an app's ``AppConfig.ready``; the collector's ``collect()`` runs once per scrape.
    """
    _state.append(collector)


def multiprocess_dir() -> str | None:
    """The folder the processes of this service write their values to, or None (one process, its own)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def host_registry() -> CollectorRegistry:
    """This host's counted metrics: the sum of the service's processes (:func:`multiprocess_dir`), else this
    process's own. What a worker host serves (``manage.py metrics``)."""
    if not multiprocess_dir():
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def exposition() -> bytes:
    """The text exposition format of the web tier: this host's counted metrics, then the database's."""
    shared = CollectorRegistry(auto_describe=False)
    for collector in _state:
        shared.register(collector)
    return generate_latest(host_registry()) + generate_latest(shared)


def _authorized(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@never_cache
@require_GET
def view(request: HttpRequest) -> HttpResponse:
    """``GET /metrics``: 404 when ``METRICS_TOKEN`` is unset, 401 without the token, else the exposition."""
    if not settings.METRICS_TOKEN:
        raise Http404
    if not _authorized(request):
        response = HttpResponse("A Bearer token (METRICS_TOKEN) is required.\n", status=401,
                                content_type="text/plain")  # fmt: skip
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
