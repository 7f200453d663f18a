"""Every error code the API answers comes in the envelope, including DRF's and Django's own."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import include, path
from rest_framework.exceptions import Throttled
from rest_framework.test import APIClient
from rest_framework.views import APIView

pytestmark = pytest.mark.django_db


class Forbidden(APIView):
    def get(self, request):
        raise PermissionDenied


class Throttle(APIView):
    def get(self, request):
        raise Throttled(wait=42)


class Broken(APIView):
    def get(self, request):
        raise RuntimeError("secret internal detail")


def broken_outside_drf(request):
    raise RuntimeError("secret internal detail")


urlpatterns = [
    path("api/test/forbidden", Forbidden.as_view()),
    path("api/test/throttled", Throttle.as_view()),
    path("api/test/broken", Broken.as_view()),
    path("api/test/broken-plain", broken_outside_drf),
    path("", include("upscaler_site.urls")),
]


def assert_envelope(response, status: int, message: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["errors"], dict)
    if message:
        assert message in body["message"]
    return body


def test_400_malformed_json(api):
    response = api.post("/api/images/upscale", data="{not json", content_type="application/json")
    assert_envelope(response, 400, "JSON parse error")


def test_400_download_before_completion(api, user):
    from images.tests.factories import make_image

    image = make_image(user)
    assert_envelope(api.get(f"/api/images/{image.pk}/download"), 400, "only completed images")


def test_401_without_token():
    response = APIClient().get("/api/images")
    body = assert_envelope(response, 401)
    assert "credentials" in body["message"].lower()
    assert response["WWW-Authenticate"] == "Bearer"


def test_401_with_invalid_token():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-real-token")
    assert_envelope(client.get("/api/images"), 401, "Invalid token")


@pytest.mark.urls(__name__)
def test_403_permission_denied(api):
    assert_envelope(api.get("/api/test/forbidden"), 403, "permission")


def test_404_unknown_image(api):
    assert_envelope(api.get(f"/api/images/{uuid.uuid4()}"), 404, "Not found")


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("url", ["/api/no-such-endpoint", "/api/images/42", "/api/images/", "/api/"])
def test_404_unknown_api_path_in_every_mode(api, settings, debug, url):
    """``make run`` has DEBUG on: Django's HTML debug page must not answer API clients."""
    settings.DEBUG = debug
    assert_envelope(api.get(url), 404, "Not found")


def test_pages_keep_their_html_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def test_405_method_not_allowed(api):
    assert_envelope(api.put("/api/images/upscale", {}), 405, 'Method "PUT" not allowed')


def test_413_body_over_the_request_limit(api, settings):
    settings.MAX_REQUEST_BODY_BYTES = 1000
    response = api.post("/api/user/tokens", {"name": "x" * 2000})
    body = assert_envelope(response, 413, "too large")
    assert "body" in body["errors"]


def test_413_form_fields_over_django_s_memory_limit(api, settings, small_photo):
    from upscaler_site.testing import encode

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.post("/api/images/upscale", {"image": encode(small_photo), "note": "x" * 5000})
    assert_envelope(response, 413, "too large")


def test_422_validation(api):
    body = assert_envelope(api.post("/api/images/upscale", {}), 422, "Validation failed")
    assert body["errors"] == {"image": ["The image field is required."]}


@pytest.mark.urls(__name__)
def test_429_throttled(api):
    response = api.get("/api/test/throttled")
    assert_envelope(response, 429, "throttled")
    assert response["Retry-After"] == "42"


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("url", ["/api/test/broken", "/api/test/broken-plain"])
def test_500_is_an_envelope_without_internals(api, settings, debug, url):
    settings.DEBUG = debug
    api.raise_request_exception = False
    body = assert_envelope(api.get(url), 500, "Internal server error")
    assert "secret" not in str(body)


def test_405_keeps_its_allow_header(api):
    assert api.put("/api/images/upscale", {})["Allow"]
