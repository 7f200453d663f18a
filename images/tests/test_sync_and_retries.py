"""Synchronous use and safe retries: ``?wait=N`` answers 200 once the image is done (holding no transaction
while it waits), and ``Idempotency-Key`` makes a retried POST return the first answer and create nothing,
even when the duplicates arrive together."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection, transaction
from django.utils import timezone

from accounts.idempotency import KEY_LIFETIME, purge_expired
from accounts.models import ApiToken, IdempotencyKey
from billing.quota import used_images
from images import jobs
from images.models import Image
from upscaler_site.testing import encode, photo


def upload(api, key: str | None = None, path: str = "/api/images/upscale", **fields):
    body = {"image": encode(photo(size=(40, 30)), "JPEG"), "model": "anime-fast", **fields}
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api.post(path, body, format="multipart", **headers)


# --- ?wait ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("wait", ["abc", "-1", "61", "2.5"])
def test_an_invalid_wait_is_refused_before_anything_is_stored(api, wait):
    response = upload(api, path=f"/api/images/upscale?wait={wait}")
    assert response.status_code == 422
    assert response.json()["errors"]["wait"]
    assert not Image.objects.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # the view waits outside any transaction
def test_an_image_not_done_in_time_answers_202_as_without_wait(api):
    started = time.monotonic()
    response = upload(api, path="/api/images/upscale?wait=1")
    assert 0.9 < time.monotonic() - started < 5
    assert response.status_code == 202 and response.json()["data"]["status"] == "pending"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_waiting_holds_no_transaction_and_sees_the_worker_finish(workspace, monkeypatch, small_photo):
    image = Image.objects.create(workspace=workspace, original_filename="a.jpg", original_width=40,
                                 original_height=30, status=Image.Status.PROCESSING)  # fmt: skip
    seen_in_transaction = []
    real_sleep = time.sleep
    monkeypatch.setattr(jobs.time, "sleep", lambda s: (seen_in_transaction.append(connection.in_atomic_block),
                                                       real_sleep(s)))  # fmt: skip

    def worker():  # another connection, as the worker's
        real_sleep(0.5)
        jobs.complete(Image.objects.get(pk=image.pk), encode(small_photo, "PNG"), "png", width=80, height=60,
                      fmt="PNG", scale_chain=[2], seconds=0.4)  # fmt: skip
        connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    assert jobs.wait_until_finished(image, 10)
    thread.join()
    assert image.status == Image.Status.COMPLETED and seen_in_transaction and not any(seen_in_transaction)
    with pytest.raises(RuntimeError), transaction.atomic():
        jobs.wait_until_finished(image, 1)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_wait_answers_200_with_the_completed_image_from_a_real_worker(live_server, worker, user):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {ApiToken.issue(user, user.personal_workspace, 'e2e')[1]}"
    response = session.post(f"{live_server.url}/api/images/upscale?wait=60", timeout=90,
                            files={"image": ("cat.jpg", encode(photo(size=(40, 30)), "JPEG"), "image/jpeg")},
                            data={"model": "anime-fast"})  # fmt: skip
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["status"] == "completed" and data["upscaled_dimensions"] == "80x60"
    assert requests.get(data["download_url"], timeout=10).status_code == 200


# --- Idempotency-Key ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_retried_upload_gets_the_first_answer_and_creates_nothing(api, workspace):
    first = upload(api, key="order-1")
    again = upload(api, key="order-1")  # the same file, a new multipart boundary
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Image.objects.count() == 1 and used_images(workspace) == 1
    assert upload(api, key="order-2").json()["data"]["id"] != first.json()["data"]["id"]


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_422(api):
    upload(api, key="k")
    other = upload(api, key="k", scale_factor="3")
    assert other.status_code == 422 and "different request" in other.json()["message"]
    assert Image.objects.count() == 1


@pytest.mark.django_db
def test_a_json_body_counts_by_its_data_and_errors_are_replayed_too(api):
    body = {"image_url": "https://example.com/a.jpg", "scale_factor": 99}
    first = api.post("/api/images/upscale", body, format="json", HTTP_IDEMPOTENCY_KEY="j")
    again = api.post("/api/images/upscale", '{"scale_factor": 99,  "image_url": "https://example.com/a.jpg"}',
                     content_type="application/json", HTTP_IDEMPOTENCY_KEY="j")  # fmt: skip
    assert first.status_code == again.status_code == 422 and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_keys_belong_to_a_workspace_and_expire_after_a_day(api, other_user, workspace):
    first = upload(api, key="shared")
    other = api.__class__()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(other_user, other_user.personal_workspace, 'o')[1]}")
    theirs = upload(other, key="shared")
    assert theirs.status_code == 202 and theirs.json()["data"]["id"] != first.json()["data"]["id"]
    IdempotencyKey.objects.filter(workspace=workspace).update(created_at=timezone.now() - KEY_LIFETIME)
    assert upload(api, key="shared").json()["data"]["id"] != first.json()["data"]["id"]  # expired: runs again
    IdempotencyKey.objects.update(created_at=timezone.now() - KEY_LIFETIME)
    assert purge_expired() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 256, "bad\nkey"])
def test_a_malformed_key_is_400(api, key):
    response = api.post("/api/images/upscale", {}, format="multipart", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400 and "Idempotency-Key" in response.json()["message"]


@pytest.mark.django_db
def test_refused_and_rate_limited_answers_are_not_kept(api, workspace):
    from billing.models import Plan

    Plan.objects.update(api_access=False)
    assert upload(api, key="later").status_code == 403
    Plan.objects.update(api_access=True)
    assert upload(api, key="later").status_code == 202


@pytest.mark.django_db
def test_every_post_takes_a_key_batches_and_webhooks_too(api, workspace):
    create = {"url": "https://shop.example.com/hook"}
    first = api.post("/api/webhooks", create, format="json", HTTP_IDEMPOTENCY_KEY="hook")
    again = api.post("/api/webhooks", create, format="json", HTTP_IDEMPOTENCY_KEY="hook")
    assert first.status_code == again.status_code == 201 and again.json() == first.json()
    from webhooks.models import Endpoint

    assert Endpoint.objects.count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_duplicates_create_one_image(live_server, user):
    key = ApiToken.issue(user, user.personal_workspace, "dup")[1]
    jpeg = encode(photo(size=(40, 30)), "JPEG").getvalue()
    barrier = threading.Barrier(8)

    def post(_):
        barrier.wait()
        headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "same"}
        files = {"image": ("cat.jpg", jpeg, "image/jpeg")}
        return requests.post(f"{live_server.url}/api/images/upscale", timeout=30, headers=headers, files=files,
                             data={"model": "anime-fast"})  # fmt: skip

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(post, range(8)))
    assert Image.objects.count() == 1
    created = [r for r in responses if r.status_code == 202]
    assert created and {r.json()["data"]["id"] for r in created} == {str(Image.objects.get().pk)}
    assert all(r.status_code in (202, 409) for r in responses)
    assert all(r.headers["Retry-After"] == "1" for r in responses if r.status_code == 409)
