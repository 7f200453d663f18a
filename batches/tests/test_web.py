"""The dashboard's batch pages: the history tab and a batch's page, scoped to the current workspace; cancel and
delete by CSRF-checked POST."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from batches.models import Batch
from images.models import Image
from images.tests.factories import make_image

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make_batch(owner, statuses: list[str], **fields) -> Batch:
    """A batch of ``owner``'s personal workspace with one image per status (counters to match)."""
    batch = Batch.objects.create(
        workspace=owner.personal_workspace,
        total_images=len(statuses),
        completed_images=statuses.count(Image.Status.COMPLETED),
        failed_images=statuses.count(Image.Status.FAILED),
        model="standard",
        scale_factor=2,
        **fields,
    )
    for index, status in enumerate(statuses):
        make_image(owner, status=status, batch=batch, original_filename=f"photo{index}.png")
    return batch


def test_the_batch_page_lists_its_images_with_progress_and_the_archive(ada, user):
    batch = make_batch(user, ["completed", "processing"], name="holiday", status="processing")
    page = ada.get(reverse("batches_web:detail", args=[batch.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "holiday" in html and "photo0.png" in html and "photo1.png" in html
    assert 'value="50"' in html and "1 of 2 done, 0 failed" in html
    assert reverse("batches:archive", args=[batch.pk]) in html
    assert "Cancel the batch" in html
    assert page.context["config"]["finished"] is False
    assert len(page.context["config"]["imageIds"]) == 2


def test_another_workspaces_batch_is_404(ada, other_user):
    theirs = make_batch(other_user, ["pending"])
    assert ada.get(reverse("batches_web:detail", args=[theirs.pk])).status_code == 404
    assert ada.post(reverse("batches_web:delete", args=[theirs.pk])).status_code == 404
    assert Batch.objects.filter(pk=theirs.pk).exists()


def test_cancel_fails_the_unfinished_images(ada, user):
    batch = make_batch(user, ["completed", "pending", "pending"], status="processing")
    response = ada.post(reverse("batches_web:delete", args=[batch.pk]), {"action": "cancel"})
    assert response.status_code == 302 and response.url == reverse("batches_web:detail", args=[batch.pk])
    batch.refresh_from_db()
    assert batch.status == Batch.Status.CANCELLED
    assert sorted(batch.images.values_list("status", flat=True)) == ["completed", "failed", "failed"]
    assert set(batch.images.filter(status="failed").values_list("error", flat=True)) == {"cancelled"}


def test_delete_removes_the_batch_and_its_images_and_needs_csrf(user, django_capture_on_commit_callbacks):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    batch = make_batch(user, ["completed", "failed"], status="partially_failed")
    image = batch.images.first()
    url = reverse("batches_web:delete", args=[batch.pk])

    assert browser.post(url).status_code == 403
    assert Batch.objects.filter(pk=batch.pk).exists()

    browser.get(reverse("batches_web:detail", args=[batch.pk]))
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(url, {"csrfmiddlewaretoken": browser.cookies["csrftoken"].value})
    assert response.status_code == 302 and response.url == reverse("batches_web:history")
    assert not Batch.objects.filter(pk=batch.pk).exists()
    assert not Image.objects.filter(batch_id=batch.pk).exists()
    assert not image.original.storage.exists(image.original.name)


def test_history_lists_batches_with_progress(ada, user, other_user):
    Batch.objects.create(workspace=user.personal_workspace, name="holiday", total_images=4, completed_images=1,
                         model="standard", status="processing")  # fmt: skip
    Batch.objects.create(workspace=other_user.personal_workspace, name="bobs-batch", total_images=1, model="standard")
    page = ada.get(reverse("batches_web:history")).content.decode()
    assert "holiday" in page and "bobs-batch" not in page
    assert 'value="25"' in page and "1 done, 0 failed, of 4" in page
    assert '<option value="partially_failed">Partially Failed</option>' in page
