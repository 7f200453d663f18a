"""Hourly API request limits: per workspace (its plan's), and per client IP without a token.

A request with a valid token counts against the token's workspace; a dashboard request
(a signed-in session, no ``Authorization`` header) against the session's current
workspace; anything else against the client's IP, which allauth's adapter finds (behind
``TRUSTED_PROXY_COUNT`` reverse proxies, in ``X-Forwarded-For``), so the API and the login
pages agree on who a client is. The middleware therefore runs after
``AuthenticationMiddleware``.

Fixed one-hour windows counted in the cache (Redis when ``REDIS_URL`` is set, so every
web process shares the counts): ``add`` creates the window's counter, ``incr`` bumps it
atomically. Over the limit the request is answered 429 with ``Retry-After`` (seconds
until the window ends) before any view runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from allauth.account.adapter import get_adapter
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse

from accounts.models import ApiToken, Workspace
from accounts.workspaces import current_workspace
from billing.quota import limits_for
from upscaler_site.api import error_body

WINDOW = 3600
PLAN_CACHE_SECONDS = 60

log = logging.getLogger(__name__)


def _workspace_rate(workspace: Workspace) -> int:
    key = f"ratelimit:plan:{workspace.pk}"
    return cache.get_or_set(key, lambda: limits_for(workspace).requests_per_hour, PLAN_CACHE_SECONDS)


def _session_workspace(request: HttpRequest) -> Workspace | None:
    """The current workspace of a signed-in dashboard session that sends no ``Authorization`` header."""
    user = getattr(request, "user", None)
    if "HTTP_AUTHORIZATION" in request.META or user is None or not user.is_authenticated:
        return None
    return current_workspace(request)


def client_ip(request: HttpRequest) -> str:
    """The client's IP address as allauth's adapter sees it (``TRUSTED_PROXY_COUNT``, ``TRUSTED_CLIENT_IP_HEADER``).

    A request whose ``X-Forwarded-For`` has fewer addresses than the trusted proxies can
    only come from a misconfigured deployment (or past the proxies): it is logged and
    counted by ``REMOTE_ADDR`` rather than answered 500. No address at all gives ``""``.
    """
    try:
        return get_adapter(request).get_client_ip(request)
    except ImproperlyConfigured as exc:
        log.error("Client IP: %s (X-Forwarded-For: %r)", exc, request.META.get("HTTP_X_FORWARDED_FOR"))
    except PermissionDenied:  # the adapter found no address
        pass
    return request.META.get("REMOTE_ADDR", "")


def _token(request: HttpRequest) -> ApiToken | None:
    header = request.META.get("HTTP_AUTHORIZATION", "").split()
    if len(header) != 2 or header[0].lower() != "bearer":
        return None
    token = ApiToken.from_key(header[1])
    return token if token is not None and token.is_active else None


def hit(key: str, limit: int, now: float | None = None) -> tuple[bool, int]:
    """Count one request against ``key``; returns (allowed, seconds until the window resets)."""
    now = time.time() if now is None else now
    window = int(now // WINDOW)
    counter = f"ratelimit:{key}:{window}"
    cache.add(counter, 0, timeout=WINDOW + 60)
    try:
        count = cache.incr(counter)
    except ValueError:  # expired between add and incr
        cache.add(counter, 1, timeout=WINDOW + 60)
        count = 1
    return count <= limit, WINDOW - int(now % WINDOW)


class RateLimitMiddleware:
    """Apply the hourly request limits to every ``/api/`` request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/api/"):
            return self.get_response(request)
        token = _token(request)
        workspace = token.workspace if token is not None else _session_workspace(request)
        if workspace is not None:
            key, limit, who = f"ws:{workspace.pk}", _workspace_rate(workspace), "your plan's"
        else:
            key, limit, who = f"ip:{client_ip(request)}", settings.ANON_REQUESTS_PER_HOUR, "the"
        allowed, retry_after = hit(key, limit)
        if allowed:
            return self.get_response(request)
        body = error_body(f"Too many requests: {who} limit is {limit} per hour. Retry in {retry_after} seconds.")
        response = JsonResponse(body, status=429)
        response["Retry-After"] = str(retry_after)
        return response
