from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views import defaults

from upscaler_site.api import json_error_view


def _api_or_html(status_code: int, html_view):
    """Django error handler answering the JSON envelope under /api/ and HTML elsewhere."""
    json_view = json_error_view(status_code)

    def view(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
        if request.path.startswith("/api/"):
            return json_view(request, exception)
        return html_view(request, exception) if status_code != 500 else html_view(request)

    return view


handler400 = _api_or_html(400, defaults.bad_request)
handler403 = _api_or_html(403, defaults.permission_denied)
handler404 = _api_or_html(404, defaults.page_not_found)
handler500 = _api_or_html(500, defaults.server_error)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    # Each app: urls.py is its API (namespace = the app), web_urls.py its pages (<app>_web).
    path("", include("accounts.urls")),
    path("", include("accounts.web_urls")),
    path("", include("billing.urls")),
    path("billing/", include("billing.web_urls")),
    path("", include("images.urls")),
    path("", include("images.web_urls")),
    path("", include("batches.urls")),
    path("", include("batches.web_urls")),
]
