"""GET /api/images, GET/DELETE /api/images/{id}, GET /api/images/{id}/download and the file URL."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing
from rest_framework.test import APIClient

from images.models import DOWNLOAD_SALT, Image
from images.tests.factories import make_image, open_result
from upscaler_site.testing import client_for

pytestmark = pytest.mark.django_db


def test_detail_of_a_completed_image(api, user):
    image = make_image(user, status=Image.Status.COMPLETED)
    data = api.get(f"/api/images/{image.pk}").json()["data"]

    assert data["status"] == "completed"
    assert data["original_path"] == f"images/{image.pk}/original.png"
    assert data["upscaled_path"] == f"images/{image.pk}/upscaled_80x60.png"
    assert data["original_dimensions"] == "40x30"
    assert data["original_dimensions_formatted"] == "40 x 30"
    assert data["upscaled_dimensions"] == "80x60"
    assert data["upscaled_dimensions_formatted"] == "80 x 60"
    assert data["upscaled_size"] > 0 and data["upscaled_size_human"]
    assert data["processing_time"] == 1.25
    assert data["error"] is None
    assert data["download_url"].startswith("http://testserver/files/")


def test_detail_of_a_failed_image_says_why(api, user):
    image = make_image(user, status=Image.Status.FAILED, error="The model produced invalid values.")
    data = api.get(f"/api/images/{image.pk}").json()["data"]
    assert data["status"] == "failed"
    assert data["error"] == "The model produced invalid values."
    assert data["download_url"] is None


def test_other_users_image_is_404_everywhere(user, other_user):
    image = make_image(user, status=Image.Status.COMPLETED)
    intruder = client_for(other_user)
    for response in (
        intruder.get(f"/api/images/{image.pk}"),
        intruder.get(f"/api/images/{image.pk}/download"),
        intruder.delete(f"/api/images/{image.pk}"),
    ):
        assert response.status_code == 404
    assert intruder.get("/api/images").json()["meta"]["total"] == 0
    assert Image.objects.filter(pk=image.pk).exists()


def test_list_is_newest_first_and_paginated(api, user):
    images = [make_image(user) for _ in range(5)]
    body = api.get("/api/images?per_page=2&page=2").json()

    assert [d["id"] for d in body["data"]] == [str(images[2].pk), str(images[1].pk)]
    assert body["meta"] == {"current_page": 2, "last_page": 3, "per_page": 2, "total": 5}
    pages = {name: parse_qs(urlsplit(url).query) for name, url in body["links"].items()}
    assert {name: q["page"] for name, q in pages.items()} == {
        "first": ["1"], "last": ["3"], "prev": ["1"], "next": ["3"]
    }  # fmt: skip
    assert all(q["per_page"] == ["2"] for q in pages.values())


def test_list_defaults_to_15_per_page(api, user):
    for _ in range(16):
        make_image(user)
    body = api.get("/api/images").json()
    assert len(body["data"]) == 15
    assert body["meta"]["per_page"] == 15 and body["meta"]["last_page"] == 2
    assert body["links"]["prev"] is None


def test_list_filters_by_status(api, user):
    make_image(user)
    done = make_image(user, status=Image.Status.COMPLETED)
    body = api.get("/api/images?status=completed").json()
    assert [d["id"] for d in body["data"]] == [str(done.pk)]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("per_page=0", "per_page", "The per page must be a positive integer."),
        ("page=x", "page", "The page must be a positive integer."),
        ("page=-1", "page", "The page must be a positive integer."),
        ("status=done", "status", "The status must be pending, processing, completed, failed or expired."),
    ],
)
def test_list_rejects_bad_parameters(api, user, query, field, message):
    make_image(user)
    response = api.get(f"/api/images?{query}")
    assert response.status_code == 422
    assert response.json()["errors"] == {field: [message]}


def test_per_page_over_100_is_read_as_100(api, user):
    make_image(user)
    body = api.get("/api/images?per_page=1000").json()
    assert body["meta"]["per_page"] == 100 and len(body["data"]) == 1


@pytest.mark.parametrize("page", ["2", "9", "99999999999999999999999"])
def test_a_page_past_the_end_is_empty_so_clients_can_loop_until_then(api, user, page):
    make_image(user)
    response = api.get(f"/api/images?page={page}")
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == []
    assert body["meta"] == {"current_page": int(page), "last_page": 1, "per_page": 15, "total": 1}
    assert body["links"]["next"] is None and "page=1" in body["links"]["last"]


def test_a_client_looping_until_an_empty_page_sees_every_image_once(api, user):
    images = {str(make_image(user).pk) for _ in range(5)}
    seen, page = [], 1
    while data := api.get(f"/api/images?per_page=2&page={page}").json()["data"]:
        seen += [d["id"] for d in data]
        page += 1
    assert sorted(seen) == sorted(images) and page == 4


def test_download_gives_a_working_signed_url(api, user):
    image = make_image(user, status=Image.Status.COMPLETED)
    data = api.get(f"/api/images/{image.pk}/download").json()["data"]
    assert data["filename"] == "cat_upscaled_80x60.png"

    response = APIClient().get(data["download_url"])  # no token: the signature is the credential
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    assert open_result(b"".join(response.streaming_content)).size == (80, 60)


def test_tampered_or_expired_file_links_are_404(user, settings):
    image = make_image(user, status=Image.Status.COMPLETED)
    token = image.download_token()
    assert APIClient().get(f"/files/{token}x").status_code == 404

    settings.DOWNLOAD_URL_MAX_AGE = 60
    old = signing.dumps(str(image.pk), salt=DOWNLOAD_SALT)
    with pytest.MonkeyPatch.context() as mp:
        real_time = signing.time.time
        mp.setattr(signing.time, "time", lambda: real_time() + timedelta(minutes=2).total_seconds())
        assert APIClient().get(f"/files/{old}").status_code == 404


def test_delete_removes_the_record_and_both_files(api, user, django_capture_on_commit_callbacks):
    image = make_image(user, status=Image.Status.COMPLETED)
    storage = image.original.storage
    names = [image.original.name, image.upscaled.name]
    assert all(storage.exists(n) for n in names)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/api/images/{image.pk}")

    assert response.status_code == 200
    assert response.json() == {"success": True, "message": "Image deleted successfully", "data": None}
    assert not Image.objects.filter(pk=image.pk).exists()
    assert not any(storage.exists(n) for n in names)
    assert api.get(f"/api/images/{image.pk}").status_code == 404
