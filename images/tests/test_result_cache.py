"""The result cache: the same image with the same pixel options in the same workspace is served from the
earlier result, at once, ``cached: true``, without a second quota charge; deleting the image that was
computed takes it out of the cache, and a shared result file stays while an image still refers to it."""

from __future__ import annotations

import pytest

from billing.quota import used_images
from images import tasks
from images.models import Image
from upscaler_site.testing import LocalServer, encode, finish_as_worker, photo, upload_jpeg
from webhooks.models import Delivery, Endpoint

pytestmark = pytest.mark.django_db

JPEG = encode(photo(size=(40, 30)), "JPEG").getvalue()


def upload(api, content: bytes = JPEG, **fields) -> dict:
    return upload_jpeg(api, content, **fields)


finish = finish_as_worker


def test_the_same_request_is_served_from_the_cache_without_a_second_charge(api, workspace):
    first = finish(upload(api, ref="first")["id"])
    assert used_images(workspace) == 1
    again = upload(api, ref="again")  # another ref, the same pixels asked for
    assert (again["status"], again["cached"], again["progress"]) == ("completed", True, 100)
    assert again["id"] != str(first.pk) and again["ref"] == "again"
    assert again["upscaled_dimensions"] == "80x60" and again["download_url"]
    assert used_images(workspace) == 1
    assert api.get(f"/api/images/{again['id']}").json()["data"]["cached"] is True
    assert Image.objects.get(pk=first.pk).cached is False


@pytest.mark.parametrize("change", [{"scale_factor": "3"}, {"output_format": "png"}, {"tune_colors": "true"},
                                    {"model": "standard"}])  # fmt: skip
def test_other_pixel_options_or_other_bytes_are_computed_again(api, workspace, change):
    finish(upload(api)["id"])
    assert upload(api, **change)["status"] == "pending"
    assert upload(api, content=encode(photo(size=(41, 30)), "JPEG").getvalue())["status"] == "pending"
    assert used_images(workspace) == 3


def test_the_cache_is_per_workspace(api, other_user):
    from rest_framework.test import APIClient

    from accounts.models import ApiToken

    finish(upload(api)["id"])
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(other_user, other_user.personal_workspace, 'o')[1]}")
    assert upload(other)["status"] == "pending"


def test_deleting_the_computed_image_takes_it_out_of_the_cache_and_copies_keep_their_file(
    api, workspace, django_capture_on_commit_callbacks
):
    first = finish(upload(api)["id"])
    copy = upload(api)
    result = Image.objects.get(pk=copy["id"]).upscaled
    assert result.name == first.upscaled.name
    with django_capture_on_commit_callbacks(execute=True):  # the files go once the delete commits
        assert api.delete(f"/api/images/{first.pk}").status_code == 200
    assert result.storage.exists(result.name)  # the copy still refers to it
    assert not first.original.storage.exists(first.original.name)
    assert upload(api)["status"] == "pending"  # the copy is not a source
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/images/{copy['id']}").status_code == 200
    assert not result.storage.exists(result.name)


def test_a_cached_batch_image_counts_as_completed_and_fires_its_webhook(api, workspace):
    Endpoint.objects.create(workspace=workspace, url="https://shop.example.com/hook", events=["image.completed"])
    finish(upload(api)["id"])
    from django.core.files.uploadedfile import SimpleUploadedFile

    files = [SimpleUploadedFile(f"{n}.jpg", content, "image/jpeg")
             for n, content in enumerate([JPEG, encode(photo(size=(44, 30)), "JPEG").getvalue()])]  # fmt: skip
    batch = api.post("/api/batches", {"images": files, "model": "anime-fast"}, format="multipart").json()["data"]
    assert (batch["completed_images"], batch["status"]) == (1, "processing")
    assert [i["cached"] for i in batch["images"]] == [True, False]
    assert used_images(workspace) == 2
    assert Delivery.objects.filter(event_type="image.completed").count() == 2  # the first image's, the copy's


def test_an_image_url_whose_bytes_are_cached_completes_when_fetched_and_gives_its_quota_back(api, workspace,
                                                                                              settings):  # fmt: skip
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    finish(upload(api)["id"])
    with LocalServer(lambda request: (200, {"Content-Type": "image/jpeg"}, JPEG)) as host:
        data = api.post("/api/images/upscale", {"image_url": f"{host.url}/cat.jpg", "model": "anime-fast"},
                        format="json").json()["data"]  # fmt: skip
        assert used_images(workspace) == 2
        assert tasks.fetch_image(data["id"]) == "fetched"
    image = Image.objects.get(pk=data["id"])
    assert image.status == Image.Status.COMPLETED and image.cached and used_images(workspace) == 1
