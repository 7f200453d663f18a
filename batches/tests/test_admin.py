"""The staff back office for images and batches: filters, thumbnails, retry and cancel actions."""

from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage

from accounts.models import User
from batches import jobs as batch_jobs
from batches.models import Batch
from batches.tests.test_batches_api import complete, make_batch
from billing.quota import used_images
from images import jobs
from images.models import Image
from images.tests.factories import make_image

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    client.force_login(User.objects.create_superuser("staff@example.com", "Staff-pass-1"))
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/admin/images/image/?status__exact=failed",
        "/admin/images/image/?created_at__year=2026",
        "/admin/batches/batch/",
        "/admin/batches/batch/?status__exact=processing",
        "/admin/batches/batch/?q=holiday",
    ],
)
def test_changelists_with_filters(staff, api, url):
    make_batch(api, 2)
    response = staff.get(url)
    assert response.status_code == 200


def test_image_list_shows_thumbnails_that_load(staff, user):
    image = make_image(user, status=Image.Status.COMPLETED, size=(400, 300))
    page = staff.get("/admin/images/image/").content.decode()
    url = f"/admin/images/image/{image.pk}/thumbnail/original/"
    assert url in page
    response = staff.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert max(PILImage.open(io.BytesIO(b"".join(response.streaming_content))).size) == 320
    detail = staff.get(f"/admin/images/image/{image.pk}/change/").content.decode()
    assert f"/admin/images/image/{image.pk}/thumbnail/result/" in detail
    assert staff.get(f"/admin/images/image/{image.pk}/thumbnail/result/").status_code == 200
    assert staff.get(f"/admin/images/image/{image.pk}/thumbnail/other/").status_code == 404


def test_thumbnails_are_for_staff_only(client, user):
    image = make_image(user)
    client.force_login(user)
    response = client.get(f"/admin/images/image/{image.pk}/thumbnail/original/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_retry_action_queues_failed_images_again(staff, user, workspace):
    failed = make_image(user, status=Image.Status.FAILED, error="The worker stopped.")
    done = make_image(user, status=Image.Status.COMPLETED)
    response = staff.post("/admin/images/image/", {"action": "retry", "_selected_action": [failed.pk, done.pk]},
                          follow=True)  # fmt: skip
    assert "Queued 1 image(s) again; skipped 1." in response.content.decode()
    failed.refresh_from_db()
    assert failed.status == "pending" and failed.error == "" and failed.quota_month is not None
    assert used_images(workspace) == 1


def test_retrying_an_image_of_a_batch_reopens_the_batch(api):
    data = make_batch(api, 2)
    first, second = Image.objects.filter(batch_id=data["id"]).order_by("created_at")
    complete(first)
    jobs.claim(second)
    jobs.fail(second, "broken")
    assert Batch.objects.get(pk=data["id"]).status == "partially_failed"

    assert jobs.retry(second)
    batch = Batch.objects.get(pk=data["id"])
    assert (batch.status, batch.completed_images, batch.failed_images, batch.completed_at) == ("processing", 1, 0, None)
    complete(second)
    assert Batch.objects.get(pk=data["id"]).status == "completed"


def test_images_of_a_cancelled_batch_are_not_retried(api):
    data = make_batch(api, 1)
    batch_jobs.cancel(Batch.objects.get(pk=data["id"]))
    image = Image.objects.get(batch_id=data["id"])
    assert image.status == "failed" and not jobs.retry(image)
    assert Image.objects.get(pk=image.pk).status == "failed"


def test_cancel_action(staff, api, workspace):
    running, finished = make_batch(api, 2), make_batch(api, 1)
    complete(Image.objects.get(batch_id=finished["id"]))
    response = staff.post("/admin/batches/batch/", {"action": "cancel", "_selected_action": [running["id"],
                          finished["id"]]}, follow=True)  # fmt: skip
    assert "Cancelled 1 batch(es), 2 unfinished image(s)." in response.content.decode()
    assert Batch.objects.get(pk=running["id"]).status == "cancelled"
    assert Batch.objects.get(pk=finished["id"]).status == "completed"
    assert used_images(workspace) == 1


def test_batch_page_lists_its_images(staff, api):
    data = make_batch(api, 2)
    page = staff.get(f"/admin/batches/batch/{data['id']}/change/").content.decode()
    assert page.count("photo0.png") >= 1 and "photo1.png" in page
