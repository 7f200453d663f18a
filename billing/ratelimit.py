"""Hourly API request limits: per workspace (its plan's), and per client IP without credentials.

Two places apply them, each where the caller is known:

* :class:`WorkspaceRateThrottle`, a DRF throttle, counts every API view request of a
  token or a dashboard session against the workspace it acts on (``request.auth``);
* :class:`AnonymousRateLimitMiddleware` counts what DRF cannot see as authenticated:
  requests under ``/api/`` with neither a usable token nor a login session (register,
  login, mistakes, unknown URLs), against the client's IP, which allauth's adapter
  finds (behind ``TRUSTED_PROXY_COUNT`` reverse proxies, in ``X-Forwarded-For``), so
  the API and the login pages agree on who a client is.

Both count in fixed one-hour windows in the cache, which every web process shares
(Redis with ``REDIS_URL``, else the database cache): the window's counter is created
and bumped atomically (on Redis, ``SET NX EX`` and ``INCR`` in one round trip). Over the
limit the answer is 429 with ``Retry-After`` (seconds until the window ends).
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable
from typing import Any

from allauth import app_settings as allauth_settings
from allauth.account.adapter import get_adapter
from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from accounts.authentication import request_token
from accounts.models import InvalidToken, Workspace
from billing.quota import limits_for
from upscaler_site.api import TooManyRequests, docs_paths, error_body

WINDOW = 3600
PLAN_CACHE_SECONDS = 60

log = logging.getLogger(__name__)


def hit(key: str, limit: int, now: float | None = None) -> tuple[bool, int]:
    """Count one request against ``key``; returns (allowed, seconds until the window resets)."""
    now = time.time() if now is None else now
    window = int(now // WINDOW)
    count = _count(f"ratelimit:{key}:{window}", WINDOW + 60)
    return count <= limit, WINDOW - int(now % WINDOW)


def _count(counter: str, timeout: int) -> int:
    """Add one to the cache's ``counter``, created to expire after ``timeout`` seconds; the new count."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        # SET NX EX and INCR in one round trip: every API request (status polling too) comes here,
        # and the cache API's add + incr takes three (docs/benchmarks.md, Load).
        key = backend.make_and_validate_key(counter)
        pipeline = backend._cache.get_client(key, write=True).pipeline()
        pipeline.set(key, 0, ex=timeout, nx=True)
        pipeline.incr(key)
        return int(pipeline.execute()[1])
    cache.add(counter, 0, timeout=timeout)
    try:
        return cache.incr(counter)
    except ValueError:  # expired between add and incr
        cache.add(counter, 1, timeout=timeout)
        return 1


def refusal(limit: int, retry_after: int, whose: str = "the") -> str:
    """The message of a 429: whose limit, how many per hour, and when to retry."""
    return f"Too many requests: {whose} limit is {limit} per hour. Retry in {retry_after} seconds."


def client_ip(request: HttpRequest) -> str:
    """The client's IP address as allauth's adapter sees it (``TRUSTED_PROXY_COUNT``, ``TRUSTED_CLIENT_IP_HEADER``).

    A request whose ``X-Forwarded-For`` has fewer addresses than the trusted proxies can
    only come from a misconfigured deployment (or past the proxies): it is logged and
    counted by ``REMOTE_ADDR`` rather than answered 500. No address at all gives ``""``.
    """
    try:
        return str(get_adapter(request).get_client_ip(request))
    except ImproperlyConfigured as exc:
        log.error("Client IP: %s (X-Forwarded-For: %r)", exc, request.META.get("HTTP_X_FORWARDED_FOR"))
    except PermissionDenied:  # the adapter found no address
        pass
    return str(request.META.get("REMOTE_ADDR", ""))


def client_network(request: HttpRequest) -> str:
    """The client to count: its IPv4 address, or its IPv6 network (a /64 by default, like allauth's limits).

    One IPv6 subscriber is usually given a whole /64, so counting single addresses would give
    them 2^64 buckets.
    """
    ip = client_ip(request)
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        prefix = allauth_settings.RATE_LIMIT_IPV6_PREFIX
        return str(ipaddress.IPv6Network(f"{address}/{prefix}", strict=False))
    return ip


def _workspace_rate(workspace: Workspace) -> int:
    key = f"ratelimit:plan:{workspace.pk}"
    rate = cache.get(key)
    if rate is None:
        rate = limits_for(workspace).requests_per_hour
        cache.set(key, rate, PLAN_CACHE_SECONDS)
    return int(rate)


class WorkspaceRateThrottle(BaseThrottle):
    """The plan's hourly request limit, counted per workspace across every web process.

    Applies to requests authenticated by a token or a dashboard session (both carry the
    workspace in ``request.auth``); anonymous ones are the middleware's.

    Raises:
        Throttled: over the limit; answered 429 with ``Retry-After``.
    """

    #: The counter's name, and whose limit a refusal names.
    scope, whose = "ws", "your plan's"

    def limit(self, workspace: Workspace) -> int:
        """Requests per hour ``workspace`` may make here."""
        return _workspace_rate(workspace)

    def allow_request(self, request: Request, view: Any) -> bool:
        workspace = getattr(request.auth, "workspace", None)
        if workspace is None:
            return True
        limit = self.limit(workspace)
        allowed, retry_after = hit(f"{self.scope}:{workspace.pk}", limit)
        if not allowed:
            raise TooManyRequests(refusal(limit, retry_after, self.whose), retry_after)
        return True


class StatusPollThrottle(WorkspaceRateThrottle):
    """``STATUS_REQUESTS_PER_HOUR`` per workspace for the status endpoints, counted apart from the plan's
    limit: polling a job every second or two must not use up the hour's API requests."""

    scope, whose = "poll", "the status polling"

    def limit(self, workspace: Workspace) -> int:
        return int(settings.STATUS_REQUESTS_PER_HOUR)


def _is_anonymous(request: HttpRequest) -> bool:
    """Neither a usable API token nor a login session: DRF will answer 401, or a public view serves it."""
    try:
        if request_token(request) is not None:
            return False
    except InvalidToken:
        return True
    user = getattr(request, "user", None)
    return user is None or not user.is_authenticated


class AnonymousRateLimitMiddleware:
    """``ANON_REQUESTS_PER_HOUR`` per client IP for ``/api/`` requests without credentials.

    Runs after ``AuthenticationMiddleware``: a signed-in dashboard session is not anonymous.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/api/") or request.path in docs_paths() or not _is_anonymous(request):
            return self.get_response(request)
        limit = settings.ANON_REQUESTS_PER_HOUR
        allowed, retry_after = hit(f"ip:{client_network(request)}", limit)
        if allowed:
            return self.get_response(request)
        response = JsonResponse(error_body(refusal(limit, retry_after)), status=429)
        response["Retry-After"] = str(retry_after)
        return response
