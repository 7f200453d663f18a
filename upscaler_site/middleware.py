"""Middleware shared by every app."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from upscaler_site.api import STATUS_MESSAGES, error_body


class RequestSizeLimitMiddleware:
    """Refuse a request whose declared body exceeds ``MAX_REQUEST_BODY_BYTES`` with 413.

    Django would otherwise stream an arbitrarily large upload to a temporary file
    before any view could look at it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.MAX_REQUEST_BODY_BYTES:
            limit_mb = settings.MAX_REQUEST_BODY_BYTES / (1024 * 1024)
            return JsonResponse(
                error_body(STATUS_MESSAGES[413], {"body": [f"The request body may be at most {limit_mb:g} MB."]}),
                status=413,
            )
        return self.get_response(request)
