"""The site's URLs: each app's API (``urls.py``, namespace = the app) and pages (``web_urls.py``,
``<app>_web``). Errors under /api/ are answered in the JSON envelope by
:class:`upscaler_site.middleware.ApiErrorEnvelopeMiddleware`, whatever view or handler
rendered them."""

from django.contrib import admin
from django.urls import include, path

from upscaler_site import health, metrics
from upscaler_site.apidocs import RedocView, SchemaView, SwaggerView

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.view, name="metrics"),
    path("api/schema", SchemaView.as_view(), name="api-schema"),
    path("api/docs", SwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc", RedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
    path("", include("accounts.web_urls")),
    path("", include("billing.urls")),
    path("billing/", include("billing.web_urls")),
    path("", include("images.urls")),
    path("", include("images.web_urls")),
    path("", include("batches.urls")),
    path("", include("batches.web_urls")),
    path("", include("webhooks.urls")),
    path("", include("webhooks.web_urls")),
]
