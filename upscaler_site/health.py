"""Health and readiness for load balancers and orchestrators.

``GET /healthz``: the process is alive and serving (touches nothing else): 200.

``GET /readyz``: the services a request needs answer: the database, the task broker
(Redis, or the database for the ORM broker), the cache (rate-limit counters) and the file
storage (the bucket, or the media folder). 200 with each check's result, or 503 with the
failing ones, so a load balancer stops sending requests to a web host that cannot serve
them. ``manage.py ready --worker`` runs the same checks for a worker host, plus that every
model's weights are installed there.

Neither needs credentials nor counts against a rate limit; neither is under ``/api/``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def unavailable_services() -> tuple[type[BaseException], ...]:
    """The exceptions that mean a service did not answer, not that the request was wrong: the database's
    connection errors, Redis's, and the object storage's (connection or server errors)."""
    from botocore.exceptions import BotoCoreError, ClientError
    from django.db import InterfaceError, OperationalError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError, BotoCoreError, ClientError)


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _broker() -> None:
    if settings.Q_CLUSTER.get("redis"):
        from django_q.brokers import get_broker

        if not get_broker().ping():
            raise ConnectionError("the Redis broker does not answer")
    else:
        _database()  # the ORM broker is a table


def _cache() -> None:
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, 1, 10)
    if cache.get(key) != 1:
        raise ConnectionError("the cache lost a value")
    cache.delete(key)


def _storage() -> None:
    default_storage.exists("readyz-probe")  # a HEAD request to the bucket, or a stat of the media folder


CHECKS: dict[str, Callable[[], None]] = {"database": _database, "broker": _broker, "cache": _cache,
                                         "storage": _storage}  # fmt: skip


def run_checks(worker: bool = False) -> dict[str, str]:
    """Each check's result: ``"ok"``, or the error's class and message. ``worker`` adds ``weights``."""
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:
            results[name] = f"{type(exc).__name__}: {exc}"[:300]
    if worker:
        from inference.faces import missing_detector
        from inference.loading import missing_weights

        missing = missing_weights() + missing_detector()
        results["weights"] = "; ".join(missing) if missing else "ok"
    return results


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    started = time.monotonic()
    checks = run_checks()
    ready = all(result == "ok" for result in checks.values())
    body = {"status": "ready" if ready else "unavailable", "checks": checks,
            "seconds": round(time.monotonic() - started, 3)}  # fmt: skip
    return JsonResponse(body, status=200 if ready else 503)
