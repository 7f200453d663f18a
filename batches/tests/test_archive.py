"""GET /api/batches/{id}/archive: a streamed ZIP of the completed results."""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image as PILImage

from batches.tests.test_batches_api import complete, upload
from images import jobs
from images.models import Image
from upscaler_site.testing import encode, photo

pytestmark = pytest.mark.django_db


def test_the_archive_holds_every_completed_result_under_unique_names(api):
    # Two files of the same name: the archive must not overwrite one with the other.
    files = [encode(photo(crop=(0, 0, 40, 30)), "PNG", "cat.png"), encode(photo(crop=(50, 50, 90, 80)), "PNG",
             "cat.png"), encode(photo(crop=(100, 100, 140, 130)), "PNG", "dog.png")]  # fmt: skip
    data = upload(api, files, scale_factor=2, name="Pets: 2026").json()["data"]
    first, second, third = Image.objects.filter(batch_id=data["id"]).order_by("created_at")
    complete(first)
    complete(second)
    jobs.claim(third)
    jobs.fail(third, "broken")

    response = api.get(f"/api/batches/{data['id']}/archive")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    assert "upscaled.zip" in response["Content-Disposition"]
    assert response.streaming
    body = b"".join(response.streaming_content)
    assert int(response["Content-Length"]) == len(body)

    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None
    names = archive.namelist()
    assert names == ["cat_upscaled_80x60.png", "cat_upscaled_80x60 (2).png"]
    for name, image in zip(names, (first, second), strict=True):
        image.refresh_from_db()
        content = archive.read(name)
        assert content == image.upscaled.open("rb").read()
        assert PILImage.open(io.BytesIO(content)).size == (80, 60)


def test_no_completed_images_yet_is_a_clear_400(api):
    data = upload(api, [encode(photo(size=(40, 30)), "PNG", "a.png")], scale_factor=2).json()["data"]
    response = api.get(f"/api/batches/{data['id']}/archive")
    assert response.status_code == 400
    assert response.json()["message"] == "The batch is pending and has no completed images to download yet."
