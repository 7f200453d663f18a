"""Middleware shared by every app."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.core.signals import got_request_exception
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.http.response import HttpResponseBase
from django.urls import reverse

from upscaler_site.api import STATUS_MESSAGES, ServiceUnavailable, error_body
from upscaler_site.health import unavailable_services

log = logging.getLogger(__name__)


@functools.cache
def _upload_limits() -> dict[str, int]:
    """Body limits of the upload endpoints, by path (URL names: this module imports no app)."""
    return {
        # One image, as a file or in base64 (4/3 of its size) in a JSON body.
        reverse("images:upscale"): settings.UPSCALE_MAX_UPLOAD_BYTES * 4 // 3 + 2**20,
        reverse("batches:list"): settings.MAX_UPLOAD_REQUEST_BYTES,
    }


def body_limit(path: str) -> int:
    """The largest request body ``path`` accepts, in bytes: an upload's files, or ``MAX_REQUEST_BODY_BYTES``."""
    return _upload_limits().get(path, settings.MAX_REQUEST_BODY_BYTES)


class RequestSizeLimitMiddleware:
    """Refuse a request whose declared body exceeds its path's :func:`body_limit` with 413.

    Django would otherwise stream an arbitrarily large body to a temporary file (or into
    memory) before any view could look at it. A body no larger than the largest any path
    takes (``MAX_UPLOAD_REQUEST_BYTES``, what nginx lets through) is read and discarded
    first: a server that answers and closes with the body unread resets the connection,
    and a proxy still sending it (nginx) then answers 502 instead of this 413.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = body_limit(request.path)
        if length > limit:
            if length <= settings.MAX_UPLOAD_REQUEST_BYTES:
                while request.read(2**20):
                    pass
            return JsonResponse(
                error_body(STATUS_MESSAGES[413], {"body": [f"The request body may be at most {limit / 2**20:g} MB."]}),
                status=413,
            )
        return self.get_response(request)


class ApiErrorEnvelopeMiddleware:
    """Every error under ``/api/`` in the JSON envelope, in every mode.

    The API's views answer their own errors in the envelope; this catches the rest, which
    Django renders as HTML: an unknown URL or a malformed id (the resolver's 404, with
    ``DEBUG=1`` the technical 404 page), a crash outside DRF (with ``DEBUG=1`` the
    traceback page, which would show a client our settings), the CSRF failure page. A
    service that did not answer there (the database under the token lookup) is a 503.
    Outermost in ``MIDDLEWARE``, so that it sees the other middleware's answers too.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not request.path.startswith("/api/"):
            return self.get_response(request)
        try:
            response = self.get_response(request)
        except Exception:  # rendering the error page failed too (500.html): the envelope needs no template
            log.exception("Error while answering %s", request.path)
            response = HttpResponseServerError()
        if response.status_code < 400:
            return response
        if response.status_code == 500 and getattr(request, UNAVAILABLE_SERVICE, False):
            # A service failed outside DRF (in a middleware: the token lookup, the rate limiter).
            envelope = JsonResponse(error_body(STATUS_MESSAGES[503]), status=503)
            envelope["Retry-After"] = str(ServiceUnavailable.retry_after)
            return envelope
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        envelope = JsonResponse(
            error_body(STATUS_MESSAGES.get(response.status_code, "Error.")), status=response.status_code
        )
        for header in ("Allow", "Retry-After", "Vary"):  # what the client needs of the original answer
            if header in response:
                envelope[header] = response[header]
        return envelope


#: Set on a request whose uncaught exception was a service that did not answer.
UNAVAILABLE_SERVICE = "unavailable_service"


@receiver(got_request_exception, dispatch_uid="upscaler_site.unavailable_service")
def _note_unavailable_service(sender: object, request: HttpRequest | None = None, **kwargs: object) -> None:
    # Sent while Django handles the exception, so it is still the one being handled.
    if request is not None and isinstance(sys.exc_info()[1], unavailable_services()):
        setattr(request, UNAVAILABLE_SERVICE, True)


#: Pages whose third-party code needs more than the site's policy, by path prefix.
CSP_RELAXED = {
    # Django's admin templates set style attributes.
    "/admin/": {"style-src": ["'unsafe-inline'"]},
    # ReDoc (styled-components) injects <style> elements, and runs its search in a blob: worker.
    "/api/redoc": {"style-src": ["'unsafe-inline'"], "worker-src": ["'self'", "blob:"]},
}


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's policy (``CONTENT_SECURITY_POLICY``), relaxed only where :data:`CSP_RELAXED` says.

    Every page of our own runs without inline styles or scripts.
    """

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        for prefix, extra in CSP_RELAXED.items():
            if request.path.startswith(prefix):
                parts.update = {**(parts.update or {}), **extra}
        return parts
