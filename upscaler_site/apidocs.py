"""The API's contract, served: ``/api/schema`` (YAML, or JSON with ``?format=json``), Swagger UI
at ``/api/docs`` and ReDoc at ``/api/redoc``, from drf-spectacular-sidecar's files (no CDN).

The schema is described in :mod:`upscaler_site.openapi`. These views are kept apart
from it: drf-spectacular's views need the schema class to be importable already.
"""

from __future__ import annotations

import functools
from typing import Any

from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.request import Request
from rest_framework.response import Response


@functools.cache
def _schema(version: str | None) -> dict[str, Any]:
    generator = SchemaView.generator_class(urlconf=None, api_version=version)
    schema: dict[str, Any] = generator.get_schema(request=None, public=True)
    return schema


class SchemaView(SpectacularAPIView):
    """``GET /api/schema``: the OpenAPI document, YAML by default, JSON with ``?format=json``.

    Built once per process: it depends on the code only, and generating it takes a while.
    Public, and not rate limited (:func:`upscaler_site.api.docs_paths`), like the pages that load it.
    """

    throttle_classes: list[Any] = []

    def _get_schema_response(self, request: Request) -> Response:
        version = self.api_version or request.version or self._get_version_parameter(request)
        return Response(
            data=_schema(version),
            headers={"Content-Disposition": f'inline; filename="{self._get_filename(request, version)}"'},
        )


class SwaggerView(SpectacularSwaggerSplitView):
    """``GET /api/docs``: Swagger UI, its settings in a script file (the CSP allows no inline script)."""

    throttle_classes: list[Any] = []


class RedocView(SpectacularRedocView):
    """``GET /api/redoc``: ReDoc (it injects its own styles: the CSP allows inline styles on this page)."""

    throttle_classes: list[Any] = []
