"""Where an image comes from: a multipart file, base64 in JSON or a form, or a URL the worker fetches.

The worker's side of URLs (fetching, the SSRF rules, failures giving the quota back) runs with a
real worker and real local servers in ``test_image_urls_e2e.py``.
"""

from __future__ import annotations

import base64

import pytest

from billing.quota import used_images
from images.models import Image
from upscaler_site.testing import encode, photo

URL = "/api/images/upscale"

pytestmark = pytest.mark.django_db


def b64(fmt: str = "PNG", size=(40, 30)) -> str:
    return base64.b64encode(encode(photo(size=size), fmt).getvalue()).decode()


@pytest.mark.parametrize("form", ["raw", "data-uri", "urlsafe", "wrapped"])
def test_base64_in_a_json_body(api, form):
    text = {
        "raw": b64(),
        "data-uri": "data:image/png;base64," + b64(),
        "urlsafe": b64().replace("+", "-").replace("/", "_").rstrip("="),
        "wrapped": "\n".join(b64()[i : i + 76] for i in range(0, len(b64()), 76)),
    }[form]
    response = api.post(URL, {"image_base64": text, "scale_factor": 2, "ref": "sku-42"}, format="json")
    assert response.status_code == 202, response.json()
    data = response.json()["data"]
    assert (data["original_dimensions"], data["original_filename"], data["ref"]) == ("40x30", "image.png", "sku-42")
    assert Image.objects.get().original.read()[:4] == b"\x89PNG"


def test_base64_in_a_multipart_form(api):
    response = api.post(URL, {"image_base64": b64("JPEG"), "output_format": "webp"})
    assert response.status_code == 202, response.json()
    assert response.json()["data"]["original_format"] == "JPEG"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not base64 at all!", "not valid base64"),
        ("w6nDqcOp", "not a valid image"),  # valid base64 of text
        ("éàü", "not valid base64"),
    ],
)
def test_bad_base64_is_a_422_on_its_field(api, value, message):
    response = api.post(URL, {"image_base64": value}, format="json")
    assert response.status_code == 422
    assert message.lower() in response.json()["errors"]["image_base64"][0].lower()
    assert not Image.objects.exists()


def test_base64_over_the_size_cap(api, settings):
    settings.UPSCALE_MAX_UPLOAD_BYTES = 100
    response = api.post(URL, {"image_base64": b64()}, format="json")
    assert response.status_code == 422 and "at most" in response.json()["errors"]["image_base64"][0]


def test_an_image_url_is_accepted_for_the_worker_to_fetch(api, user):
    response = api.post(URL, {"image_url": "https://images.example.com/shop/photo%201.jpg?v=2", "ref": "r1",
                              "target_width": 800}, format="json")  # fmt: skip
    assert response.status_code == 202, response.json()
    data = response.json()["data"]
    assert (data["status"], data["original_filename"], data["ref"]) == ("pending", "photo 1.jpg", "r1")
    assert data["original_dimensions"] is None and data["output_width"] is None  # known once fetched
    assert data["source_url"] == "https://images.example.com/shop/photo%201.jpg?v=2"
    image = Image.objects.get()
    assert (image.requested_width, image.original.name) == (800, "")
    assert used_images(user.personal_workspace) == 1  # counted now, given back if the fetch fails


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/a.png", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("https://user:pw@example.com/a.png", "user name or password"),
        ("http:///a.png", "no host"),
    ],
)
def test_image_urls_that_cannot_be_fetched_are_refused_at_once(api, url, message):
    response = api.post(URL, {"image_url": url}, format="json")
    assert response.status_code == 422 and message in response.json()["errors"]["image_url"][0]


def test_one_source_per_image(api):
    response = api.post(URL, {"image": encode(photo(size=(40, 30))), "image_url": "https://example.com/a.png"})
    assert response.status_code == 422
    assert response.json()["errors"] == {"image_url": ["Give one of image, image_url or image_base64."]}
    response = api.post(URL, {"ref": "x"}, format="json")
    assert response.json()["errors"] == {"image": ["The image field is required."]}


def test_a_url_beyond_the_plans_scale_is_refused_before_it_is_fetched(other_user):
    from upscaler_site.testing import client_for

    response = client_for(other_user).post(URL, {"image_url": "https://example.com/a.png", "scale_factor": 4},
                                           format="json")  # fmt: skip
    assert response.status_code == 403 and "at most 2x" in response.json()["message"]


def test_a_json_batch_of_urls_and_base64(api):
    body = {"image_urls": ["https://example.com/a.png", "https://example.com/b.jpg"], "images_base64": [b64()],
            "scale_factor": 2, "name": "Feed", "ref": "feed-7"}  # fmt: skip
    response = api.post("/api/batches", body, format="json")
    assert response.status_code == 202, response.json()
    data = response.json()["data"]
    assert (data["total_images"], data["ref"]) == (3, "feed-7")
    assert [i["original_filename"] for i in data["images"]] == ["a.png", "b.jpg", "image.png"]
    assert all(i["ref"] == "feed-7" for i in data["images"])


def test_a_batch_body_that_is_not_an_object_is_a_422(api):
    response = api.post("/api/batches", [None, None], format="json")
    assert response.status_code == 422 and "JSON object" in response.json()["errors"]["non_field_errors"][0]


def test_a_batchs_bad_source_is_named_by_its_position(api):
    response = api.post("/api/batches", {"image_urls": ["https://example.com/a.png", "gopher://x/"],
                                         "images_base64": ["???"]}, format="json")  # fmt: skip
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert set(errors) == {"image_urls.1", "images_base64.0"}
    assert not Image.objects.exists()
