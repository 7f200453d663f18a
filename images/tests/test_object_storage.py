"""Originals, results, thumbnails and archives in object storage: a real S3 server on loopback
(``rclone serve s3``, which checks signatures and expiry), a real worker that shares nothing with the
web process but the database, the broker and the bucket, and downloads that never pass the web tier."""

from __future__ import annotations

import io
import time
import uuid
import zipfile
from urllib.parse import urlsplit

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from accounts.models import ApiToken, Workspace
from images.models import Image
from upscaler_site.testing import encode, finish_as_worker, photo, qcluster, upload_jpeg

JPEG = encode(photo(size=(40, 30)), "JPEG").getvalue()


def upload(api, content: bytes = JPEG, **fields) -> dict:
    return upload_jpeg(api, content, **fields)


finish = finish_as_worker


@pytest.mark.django_db
def test_files_live_in_the_bucket_and_downloads_are_presigned_urls(api, client, user, s3, settings, media_root,
                                                                 django_capture_on_commit_callbacks):  # fmt: skip
    bucket = settings.AWS_STORAGE_BUCKET_NAME
    data = upload(api)
    image = finish(data["id"])
    assert s3.objects(bucket) == sorted([image.original.name, image.upscaled.name, image.result_thumbnail.name])
    assert not any(media_root.rglob("*.*"))  # nothing on the local disk

    link = api.get(f"/api/images/{image.pk}/download").json()["data"]["download_url"]
    assert link.startswith(f"{s3.endpoint}/{bucket}/") and "X-Amz-Signature=" in link
    assert api.get(f"/api/images/{image.pk}").json()["data"]["download_url"].startswith(s3.endpoint)
    got = requests.get(link, timeout=10)
    assert got.status_code == 200 and got.content == image.upscaled.open("rb").read()
    assert got.headers["Content-Type"] == "image/jpeg"
    assert got.headers["Content-Disposition"] == 'attachment; filename="cat_upscaled_80x60.jpg"'
    # The signature covers the key and the answer's headers: change either, and S3 refuses.
    assert requests.get(link.replace("X-Amz-Signature=", "X-Amz-Signature=0"), timeout=10).status_code == 403
    assert requests.get(link.replace("attachment", "inline"), timeout=10).status_code == 403

    # The dashboard's files redirect to presigned URLs too; the result shows inline.
    client.force_login(user)
    page = client.get(f"/images/{image.pk}/result")
    assert page.status_code == 302 and page["Location"].startswith(s3.endpoint)
    assert requests.get(page["Location"], timeout=10).headers["Content-Disposition"].startswith("inline")

    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/images/{image.pk}").status_code == 200
    assert s3.objects(bucket) == []


@pytest.mark.django_db
def test_a_presigned_url_expires(api, s3, settings):
    settings.DOWNLOAD_URL_MAX_AGE = 1
    image = finish(upload(api)["id"])
    link = api.get(f"/api/images/{image.pk}/download").json()["data"]["download_url"]
    assert requests.get(link, timeout=10).status_code == 200
    time.sleep(2.1)
    expired = requests.get(link, timeout=10)
    assert expired.status_code in (400, 403) and "AccessDenied" in expired.text  # rclone answers 400, AWS 403


@pytest.mark.django_db
def test_presigned_urls_name_the_public_endpoint(api, s3_server, settings):
    from upscaler_site.settings import object_storage

    bucket = f"public-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(bucket)
    public = s3_server.endpoint.replace("127.0.0.1", "localhost")  # how browsers reach the bucket
    settings.STORAGES = {**settings.STORAGES, "default": object_storage(s3_server.bucket_env(bucket, public))}
    image = finish(upload(api)["id"])
    link = api.get(f"/api/images/{image.pk}/download").json()["data"]["download_url"]
    assert urlsplit(link).hostname == "localhost"
    assert requests.get(link, timeout=10).status_code == 200  # signed for the host it names


@pytest.mark.django_db
def test_a_batch_archive_streams_from_the_bucket(api, s3):
    files = [SimpleUploadedFile(f"{n}.jpg", encode(photo(size=(40 + n, 30)), "JPEG").getvalue(), "image/jpeg")
             for n in range(2)]  # fmt: skip
    batch = api.post("/api/batches", {"images": files, "model": "anime-fast"}, format="multipart").json()["data"]
    for image in Image.objects.filter(batch_id=batch["id"]):
        finish(str(image.pk))
    response = api.get(f"/api/batches/{batch['id']}/archive")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        assert len(archive.namelist()) == 2
        assert {PILImage.open(archive.open(name)).size for name in archive.namelist()} == {(80, 60)}
    assert int(response["Content-Length"]) > 0


@pytest.mark.django_db
def test_deleting_a_workspace_or_an_account_deletes_its_objects(api, user, s3, settings,
                                                              django_capture_on_commit_callbacks):  # fmt: skip
    bucket = settings.AWS_STORAGE_BUCKET_NAME
    team = Workspace.create_for(user, "Team")
    kept = finish(upload(api)["id"])  # in Ada's personal workspace
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(user, team, 'team')[1]}")
    in_team = finish(upload(api, encode(photo(size=(44, 30)), "JPEG").getvalue())["id"])
    assert len(s3.objects(bucket)) == 6

    with django_capture_on_commit_callbacks(execute=True):
        team.delete()
    assert not Image.objects.filter(pk=in_team.pk).exists()
    assert s3.objects(bucket) == sorted([kept.original.name, kept.upscaled.name, kept.result_thumbnail.name])

    with django_capture_on_commit_callbacks(execute=True):
        user.delete()  # and with it the workspaces Ada owns
    assert s3.objects(bucket) == []


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_worker_with_its_own_disk_processes_images_from_the_bucket(live_server, s3, settings, tmp_path, user):
    """The worker has another MEDIA_ROOT and temp dir than the web process: only the bucket is shared."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {ApiToken.issue(user, user.personal_workspace, 'e2e')[1]}"
    worker_disk, worker_tmp = tmp_path / "worker-media", tmp_path / "worker-tmp"
    worker_tmp.mkdir()
    env = s3.bucket_env(settings.AWS_STORAGE_BUCKET_NAME)
    with qcluster(worker_disk, tmp_path / "qcluster.log", TMPDIR=str(worker_tmp), **env):
        response = session.post(f"{live_server.url}/api/images/upscale", timeout=30, data={"model": "anime-fast"},
                                files={"image": ("cat.jpg", JPEG, "image/jpeg")})  # fmt: skip
        assert response.status_code == 202, response.text
        image_id = response.json()["data"]["id"]
        deadline = time.monotonic() + 120
        while (data := session.get(f"{live_server.url}/api/images/{image_id}", timeout=10).json()["data"])[
            "status"
        ] not in ("completed", "failed"):
            assert time.monotonic() < deadline, data["status"]
            time.sleep(0.3)
    assert data["status"] == "completed", data["error"]
    assert data["download_url"].startswith(s3.endpoint)
    result = requests.get(data["download_url"], timeout=10)
    assert PILImage.open(io.BytesIO(result.content)).size == (80, 60)
    # Nothing on its own disk, and no temporary file left in its temp dir (torch may make empty folders there).
    assert not any(worker_disk.rglob("*.*"))
    assert not [path for path in worker_tmp.rglob("*") if path.is_file()]
