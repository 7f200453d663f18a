"""POST/GET /api/batches, GET/DELETE /api/batches/{id}: validation, plan and quota, listing, cancel, delete."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage

from batches.models import Batch
from billing.models import MonthlyUsage, Plan, Subscription, month_start
from billing.quota import used_images
from images import jobs
from images.models import Image
from upscaler_site.testing import client_for, encode, make_user, photo

pytestmark = pytest.mark.django_db


def photos(count: int, size: tuple[int, int] = (40, 30)) -> list:
    """``count`` different real-photo crops, as PNG uploads named photo0.png, photo1.png, …"""
    return [encode(photo(crop=(10 * i, 10 * i, 10 * i + size[0], 10 * i + size[1])), "PNG", f"photo{i}.png")
            for i in range(count)]  # fmt: skip


def upload(api, files, **fields):
    return api.post("/api/batches", {"images": files, **fields}, format="multipart")


def on_plan(slug: str):
    user = make_user(f"{slug}@example.com")
    Subscription.objects.create(workspace=user.personal_workspace, plan=Plan.objects.get(slug=slug))
    return user, client_for(user)


def test_a_batch_is_accepted_with_all_its_images(api, workspace):
    response = upload(api, photos(3), scale_factor=2, model="anime-fast", name="Holiday")
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["success"] and body["message"] == "Batch created and images queued for processing"
    data = body["data"]
    assert {"id", "name", "status", "total_images", "completed_images", "failed_images", "scale_factor", "progress",
            "images", "created_at", "updated_at", "completed_at"} <= set(data)  # fmt: skip
    assert data["name"] == "Holiday" and data["status"] == "pending"
    assert (data["total_images"], data["completed_images"], data["failed_images"], data["progress"]) == (3, 0, 0, 0)
    assert data["scale_factor"] == 2 and data["completed_at"] is None
    assert [i["original_filename"] for i in data["images"]] == ["photo0.png", "photo1.png", "photo2.png"]
    assert all(i["status"] == "pending" and i["batch_id"] == data["id"] for i in data["images"])
    assert all((i["output_width"], i["output_height"], i["model_used"]) == (80, 60, "anime-fast")
               for i in data["images"])  # fmt: skip
    assert used_images(workspace) == 3
    assert Image.objects.filter(batch_id=data["id"]).count() == 3


def test_php_style_field_name_and_target_size(api):
    response = api.post("/api/batches", {"images[]": photos(2), "target_width": 100}, format="multipart")
    assert response.status_code == 202, response.json()
    data = response.json()["data"]
    assert [(i["target_width"], i["target_height"]) for i in data["images"]] == [(100, 75), (100, 75)]
    assert data["target_width"] == 100 and data["scale_factor"] is None
    assert data["name"] == "2 images"


@pytest.mark.parametrize("count", [0, 21])
def test_between_one_and_twenty_images(api, workspace, count):
    response = upload(api, photos(count, size=(8, 8)), scale_factor=2)
    assert response.status_code == 422
    assert response.json()["errors"]["images"] == [f"Send between 1 and 20 images (got {count})."]
    assert not Batch.objects.exists() and used_images(workspace) == 0


def test_one_bad_file_rejects_the_whole_batch_and_stores_nothing(api, workspace, media_root):
    files = photos(2)
    bad = encode(photo(size=(40, 30)), "PNG", "broken.png")
    bad = type(bad)(bad.getvalue()[:60])  # truncated
    bad.name = "broken.png"
    response = upload(api, [files[0], bad, files[1]], scale_factor=2)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert list(errors) == ["images.1"] and errors["images.1"][0].startswith("broken.png: ")
    assert not Batch.objects.exists() and not Image.objects.exists()
    assert used_images(workspace) == 0
    assert not (media_root / "images").exists() or not any((media_root / "images").rglob("*.*"))


def test_options_are_validated_once(api):
    response = upload(api, photos(2), scale_factor=1.2, name="x" * 256)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert "name" in errors
    response = upload(api, photos(2), scale_factor=1.2)
    assert response.status_code == 422 and list(response.json()["errors"]) == ["scale_factor"]


def test_plans_without_batches_get_403(db):
    for slug in ("free", "starter"):
        _user, api = on_plan(slug)
        response = upload(api, photos(1), scale_factor=2)
        assert response.status_code == 403, slug
        assert "does not include batches" in response.json()["message"]
    assert not Batch.objects.exists()


def test_professional_may_batch(db):
    _user, api = on_plan("professional")
    assert upload(api, photos(2), scale_factor=2).status_code == 202


def test_the_whole_batch_must_fit_in_the_quota(db):
    user, api = on_plan("professional")
    limit = Plan.objects.get(slug="professional").images_per_month
    MonthlyUsage.objects.create(workspace=user.personal_workspace, month=month_start(), images=limit - 2)
    response = upload(api, photos(3), scale_factor=2)
    assert response.status_code == 403
    assert "would exceed it" in response.json()["message"]
    assert not Batch.objects.exists() and used_images(user.personal_workspace) == limit - 2
    assert upload(api, photos(2), scale_factor=2).status_code == 202
    assert used_images(user.personal_workspace) == limit


def test_the_plan_scale_limit_applies_to_every_image(db):
    _user, api = on_plan("professional")  # 4x at most
    response = upload(api, photos(2), scale_factor=8)
    assert response.status_code == 403 and "at most 4x" in response.json()["message"]


def test_needs_the_write_ability(user):
    reader = client_for(user, abilities=["images:read"])
    assert upload(reader, photos(1), scale_factor=2).status_code == 403
    assert reader.get("/api/batches").status_code == 200


# --- reading -------------------------------------------------------------------------------------------


def make_batch(api, count: int = 2, scale_factor: int = 2) -> dict:
    response = upload(api, photos(count), scale_factor=scale_factor, model="anime-fast")
    assert response.status_code == 202, response.json()
    return response.json()["data"]


def test_detail_shows_progress_and_download_urls(api):
    data = make_batch(api, 3)
    images = list(Image.objects.filter(batch_id=data["id"]).order_by("created_at"))
    complete(images[0])
    jobs.claim(images[1])
    jobs.fail(images[1], "The model produced invalid values (NaN or infinity).")

    shown = api.get(f"/api/batches/{data['id']}").json()["data"]
    assert (shown["status"], shown["completed_images"], shown["failed_images"], shown["progress"]) == (
        "processing",
        1,
        1,
        66,
    )
    first, second, third = shown["images"]
    assert first["status"] == "completed" and first["download_url"].startswith("http://testserver/files/")
    assert second["status"] == "failed" and second["error"].startswith("The model produced")
    assert third["status"] == "pending" and third["download_url"] is None


def complete(image: Image) -> None:
    """Run ``image`` through the state machine as a worker would, with a made-up result."""
    assert jobs.claim(image)
    width, height = image.output_size
    result = encode(photo(size=(width, height)), "PNG")
    assert jobs.complete(image, result, "png", width=width, height=height, fmt="PNG", scale_chain=[2], seconds=0.5)


def test_status_follows_the_outcomes(api):
    outcomes = {"completed": ["ok", "ok"], "partially_failed": ["ok", "fail"], "failed": ["fail", "fail"]}
    for factor, (expected, plan) in enumerate(outcomes.items(), 2):
        data = make_batch(api, 2, scale_factor=factor)  # not the earlier batch's request: the cache would serve it
        for image, outcome in zip(Image.objects.filter(batch_id=data["id"]).order_by("created_at"), plan,
                                  strict=True):  # fmt: skip
            if outcome == "ok":
                complete(image)
            else:
                jobs.claim(image)
                jobs.fail(image, "broken")
        batch = Batch.objects.get(pk=data["id"])
        assert batch.status == expected and batch.progress == 100 and batch.completed_at is not None


def test_list_is_paginated_and_filtered_by_status(api, user, other_user):
    first, second = make_batch(api, 1), make_batch(api, 1)
    complete(Image.objects.get(batch_id=first["id"]))
    Subscription.objects.create(workspace=other_user.personal_workspace, plan=Plan.objects.get(slug="enterprise"))
    make_batch(client_for(other_user), 1)

    body = api.get("/api/batches").json()
    assert [b["id"] for b in body["data"]] == [second["id"], first["id"]]
    assert body["meta"]["total"] == 2
    assert [b["id"] for b in api.get("/api/batches?status=completed").json()["data"]] == [first["id"]]
    assert [b["id"] for b in api.get("/api/batches?status=pending").json()["data"]] == [second["id"]]
    response = api.get("/api/batches?status=done")
    assert response.status_code == 422 and "partially_failed" in response.json()["errors"]["status"][0]


def test_other_workspaces_batches_are_404(api, other_user):
    data = make_batch(api, 1)
    intruder = client_for(other_user)
    for response in (intruder.get(f"/api/batches/{data['id']}"), intruder.delete(f"/api/batches/{data['id']}"),
                     intruder.get(f"/api/batches/{data['id']}/archive")):  # fmt: skip
        assert response.status_code == 404
    assert Batch.objects.get(pk=data["id"]).status == "pending"


# --- cancel and delete ---------------------------------------------------------------------------------


def test_deleting_an_unfinished_batch_cancels_it_and_refunds_the_quota(api, workspace):
    data = make_batch(api, 3)
    images = list(Image.objects.filter(batch_id=data["id"]).order_by("created_at"))
    complete(images[0])
    assert jobs.claim(images[1])  # a worker is on it
    assert used_images(workspace) == 3

    response = api.delete(f"/api/batches/{data['id']}")
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Batch cancelled successfully"
    shown = body["data"]
    assert (shown["status"], shown["completed_images"], shown["failed_images"], shown["progress"]) == (
        "cancelled",
        1,
        2,
        100,
    )
    assert [i["status"] for i in shown["images"]] == ["completed", "failed", "failed"]
    assert [i["error"] for i in shown["images"][1:]] == ["cancelled", "cancelled"]
    assert used_images(workspace) == 1

    # The worker that was mid-image finishes: its result is discarded, not stored.
    result = encode(photo(size=(80, 60)), "PNG")
    assert not jobs.complete(images[1], result, "png", width=80, height=60, fmt="PNG", scale_chain=[2], seconds=1)
    assert not default_storage.exists(f"images/{images[1].pk}/upscaled_80x60.png")
    batch = Batch.objects.get(pk=data["id"])
    assert (batch.status, batch.completed_images, batch.failed_images) == ("cancelled", 1, 2)
    # A queued task for a cancelled image does nothing.
    assert not jobs.claim(images[2])


def test_deleting_a_finished_batch_removes_its_images_and_files(api):
    data = make_batch(api, 2)
    images = list(Image.objects.filter(batch_id=data["id"]))
    for image in images:
        complete(image)
    response = api.delete(f"/api/batches/{data['id']}")
    assert response.status_code == 200 and response.json()["message"] == "Batch deleted successfully"
    assert not Batch.objects.filter(pk=data["id"]).exists() and not Image.objects.filter(batch_id=data["id"]).exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_files_of_a_deleted_batch_leave_storage(user):
    api = client_for(user)
    data = make_batch(api, 2)
    for image in Image.objects.filter(batch_id=data["id"]):
        complete(image)
    paths = [name for image in Image.objects.filter(batch_id=data["id"]) for name in (image.original.name,
             image.upscaled.name)]  # fmt: skip
    assert api.delete(f"/api/batches/{data['id']}").status_code == 200
    assert paths and not any(default_storage.exists(p) for p in paths)


def test_deleting_needs_the_delete_ability(user, api):
    data = make_batch(api, 1)
    assert client_for(user, abilities=["images:read", "images:write"]).delete(
        f"/api/batches/{data['id']}").status_code == 403  # fmt: skip
    assert Batch.objects.get(pk=data["id"]).status == "pending"


def test_deleting_an_unfinished_image_of_a_batch_lets_the_batch_finish(api):
    data = make_batch(api, 2)
    first, second = Image.objects.filter(batch_id=data["id"]).order_by("created_at")
    assert api.delete(f"/api/images/{second.pk}").status_code == 200
    complete(first)
    batch = Batch.objects.get(pk=data["id"])
    assert (batch.status, batch.completed_images, batch.failed_images, batch.progress) == (
        "partially_failed",
        1,
        1,
        100,
    )


def test_the_sweep_queues_a_batch_left_waiting_by_a_worker_that_died_before_queueing_the_next(api, settings):
    from images import tasks

    settings.BATCH_QUEUE_WINDOW = 2
    data = make_batch(api, 4)
    images = list(Image.objects.filter(batch_id=data["id"]).order_by("created_at", "pk"))
    assert [image.queued for image in images] == [True, True, False, False]
    assert tasks.fail_stalled_images() == 0  # two in the queue: nothing to do
    # Both finish, and the process dies before it queues the next ones: nothing of the batch is in flight.
    Image.objects.filter(pk__in=[images[0].pk, images[1].pk]).update(status=Image.Status.FAILED)
    assert tasks.fail_stalled_images() == 1
    assert [i.queued for i in Image.objects.filter(batch_id=data["id"]).order_by("created_at", "pk")] == [
        True, True, True, False
    ]  # fmt: skip
    assert tasks.fail_stalled_images() == 0  # the next is in the queue now
