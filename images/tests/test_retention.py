"""Retention: an image's files are deleted after its plan's number of days (Free 1, Starter 7,
Professional 30, Enterprise 90; admin-editable); the record stays, ``expired``, and its download is 410."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from billing.models import Plan
from images import tasks
from images.models import Image
from upscaler_site.testing import encode, finish_as_worker, photo, upload_jpeg

pytestmark = pytest.mark.django_db


def finished(api, days_ago: float, **fields) -> Image:
    """An image uploaded through the API, completed by a stand-in worker ``days_ago`` days ago."""
    image = finish_as_worker(upload_jpeg(api, encode(photo(size=(40 + len(fields), 30)), "JPEG").getvalue(),
                                         **fields)["id"])  # fmt: skip
    Image.objects.filter(pk=image.pk).update(completed_at=timezone.now() - timedelta(days=days_ago))
    image.refresh_from_db()
    return image


def test_the_plans_keep_files_for_their_documented_days():
    assert dict(Plan.objects.values_list("slug", "retention_days")) == {
        "free": 1, "starter": 7, "professional": 30, "enterprise": 90
    }  # fmt: skip


def test_images_past_their_plans_retention_expire_and_their_files_go(api, user, django_capture_on_commit_callbacks):
    from billing.quota import limits_for

    days = limits_for(user.personal_workspace).plan.retention_days
    old, recent = finished(api, days + 0.5), finished(api, days - 0.5, scale_factor="3")
    files = [old.original, old.upscaled]
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.expire_old_images() == 1
    old.refresh_from_db()
    recent.refresh_from_db()
    assert (old.status, recent.status) == ("expired", "completed")
    assert not any(f.storage.exists(f.name) for f in files)
    assert recent.upscaled.storage.exists(recent.upscaled.name)

    shown = api.get(f"/api/images/{old.pk}").json()["data"]
    assert (shown["status"], shown["download_url"], shown["upscaled_path"]) == ("expired", None, None)
    gone = api.get(f"/api/images/{old.pk}/download")
    assert gone.status_code == 410 and "expired" in gone.json()["message"]
    assert api.get("/api/images?status=expired").json()["meta"]["total"] == 1
    assert tasks.expire_old_images() == 0  # nothing twice


def test_retention_follows_the_workspace_plan_and_the_admin_can_change_it(api, user):
    from billing.quota import limits_for

    plan = limits_for(user.personal_workspace).plan
    image = finished(api, 3)
    Plan.objects.filter(pk=plan.pk).update(retention_days=5)
    assert tasks.expire_old_images() == 0
    Plan.objects.filter(pk=plan.pk).update(retention_days=2)
    assert tasks.expire_old_images() == 1
    image.refresh_from_db()
    assert image.status == "expired"


def test_an_expired_image_is_no_longer_a_cached_result(api, workspace):
    old = finished(api, 400)
    tasks.expire_old_images()
    upload = SimpleUploadedFile("cat.jpg", encode(photo(size=(40, 30)), "JPEG").getvalue())
    again = api.post("/api/images/upscale", {"image": upload, "model": "anime-fast"}, format="multipart")
    assert again.json()["data"]["cached"] is False and Image.objects.get(pk=old.pk).status == "expired"


def test_the_expiry_task_is_scheduled_hourly():
    from django_q.models import Schedule

    assert Schedule.objects.get(func="images.tasks.expire_old_images").schedule_type == Schedule.HOURLY
