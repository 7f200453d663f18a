"""When storage fails: an upload while object storage is down answers 503 in the envelope and leaves
nothing behind; a job whose bucket went away, or whose disk filled up while it wrote the result, fails
with a clear reason and its quota back, and leaves no partial file."""

from __future__ import annotations

import subprocess

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from billing.quota import used_images
from images import tasks
from images.models import Image
from upscaler_site.testing import encode, photo
from upscaler_site.tests.s3server import unreachable_bucket

pytestmark = pytest.mark.django_db


def upload(api):
    image = SimpleUploadedFile("cat.jpg", encode(photo(size=(40, 30)), "JPEG").getvalue(), "image/jpeg")
    return api.post("/api/images/upscale", {"image": image, "model": "anime-fast"}, format="multipart")


def test_an_upload_while_object_storage_is_down_is_503_and_stores_nothing(api, workspace, settings):
    settings.STORAGES = {**settings.STORAGES, "default": unreachable_bucket()}
    response = upload(api)
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    body = response.json()
    assert body["success"] is False and "nothing was stored" in body["message"]
    assert not Image.objects.exists() and used_images(workspace) == 0


@pytest.mark.slow
def test_a_job_whose_bucket_went_away_fails_with_a_refund(api, workspace, s3, settings):
    image_id = upload(api).json()["data"]["id"]
    assert used_images(workspace) == 1
    settings.STORAGES = {**settings.STORAGES, "default": unreachable_bucket()}  # S3 stops answering
    assert tasks.upscale_image(image_id) == "failed"
    image = Image.objects.get(pk=image_id)
    assert image.error == tasks.STORAGE_FAILED and used_images(workspace) == 0


@pytest.fixture
def tiny_disk(tmp_path, settings):
    """MEDIA_ROOT on a 64 KB tmpfs: room for an original, not for its x4 PNG result."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    settings.MEDIA_ROOT = mount
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


@pytest.mark.slow
def test_a_job_whose_disk_fills_up_fails_with_a_refund_and_leaves_no_partial_result(api, workspace, tiny_disk):
    image = SimpleUploadedFile("cat.png", encode(photo(size=(96, 72)), "PNG").getvalue(), "image/png")
    data = api.post("/api/images/upscale", {"image": image, "model": "anime-fast", "scale_factor": "4"},
                    format="multipart").json()["data"]  # fmt: skip
    assert tasks.upscale_image(data["id"]) == "failed"
    image = Image.objects.get(pk=data["id"])
    assert image.error == tasks.STORAGE_FAILED and used_images(workspace) == 0
    left = sorted(p.name for p in tiny_disk.rglob("*") if p.is_file())
    assert not [name for name in left if name.startswith("upscaled_")], left  # no partial result
    assert any(name.startswith("original") for name in left)  # the upload itself is kept
