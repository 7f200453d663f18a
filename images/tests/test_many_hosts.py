"""Hosts that share nothing but the services: a web server and two workers, each with its own disk and
temp dir, on the same database, broker and bucket. Run by ``.ci/run`` on PostgreSQL + Redis (and on the
embedded SQLite + ORM broker, where the database file is the shared service)."""

from __future__ import annotations

import time
from collections import Counter

import pytest
import requests
from django_q.models import Task

from accounts.models import ApiToken
from images.models import Image
from upscaler_site.testing import encode, gunicorn, photo, qcluster

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

IMAGES = 20


def test_twenty_uploads_through_gunicorn_complete_once_each_on_two_workers(s3, settings, tmp_path, user):
    env = s3.bucket_env(settings.AWS_STORAGE_BUCKET_NAME)
    hosts = {name: (tmp_path / name / "media", tmp_path / name / "tmp") for name in ("web", "worker-a", "worker-b")}
    for _, temp in hosts.values():
        temp.mkdir(parents=True)
    key = ApiToken.issue(user, user.personal_workspace, "many hosts")[1]
    with (
        gunicorn(hosts["web"][0], tmp_path / "web.log", TMPDIR=str(hosts["web"][1]), **env) as web,
        qcluster(hosts["worker-a"][0], tmp_path / "a.log", TMPDIR=str(hosts["worker-a"][1]), **env),
        qcluster(hosts["worker-b"][0], tmp_path / "b.log", TMPDIR=str(hosts["worker-b"][1]), **env),
    ):
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {key}"
        ids = []
        for n in range(IMAGES):  # 20 different photos: the result cache must not serve any of them
            jpeg = encode(photo(size=(40 + n, 30)), "JPEG")
            response = session.post(f"{web}/api/images/upscale", files={"image": (f"{n}.jpg", jpeg, "image/jpeg")},
                                    data={"model": "anime-fast"}, timeout=30)  # fmt: skip
            assert response.status_code == 202, response.text
            ids.append(response.json()["data"]["id"])
        deadline = time.monotonic() + 300
        while Image.objects.filter(pk__in=ids, status__in=Image.UNFINISHED).exists():
            assert time.monotonic() < deadline, "images still unfinished after 5 minutes"
            time.sleep(0.5)

    images = list(Image.objects.filter(pk__in=ids))
    assert Counter(image.status for image in images) == {Image.Status.COMPLETED: IMAGES}, [i.error for i in images]
    # Each image was run by exactly one task, and both workers took part.
    runs = Counter(Task.objects.filter(func="images.tasks.upscale_image").values_list("name", flat=True))
    assert runs == {f"upscale-{pk}": 1 for pk in ids}
    assert len({image.worker for image in images}) == 2
    # Every file is in the bucket; no host kept one on its disk, nor a temporary file.
    assert all(not list(media.rglob("*.*")) for media, _ in hosts.values())
    assert all(not [p for p in temp.rglob("*") if p.is_file()] for _, temp in hosts.values())
    assert len(s3.objects(settings.AWS_STORAGE_BUCKET_NAME)) >= 3 * IMAGES  # original, result, thumbnail


def test_a_single_image_does_not_wait_behind_another_workspaces_batch(live_server, worker, user, other_user,
                                                                     settings):  # fmt: skip
    """Ada's batch of 12 is queued a few images at a time (BATCH_QUEUE_WINDOW); Bob's one image, uploaded
    after it, is done after at most that many of hers, not after all 12."""
    batch_size, settings.BATCH_QUEUE_WINDOW = 12, 2
    sessions = {}
    for who in (user, other_user):
        sessions[who] = requests.Session()
        sessions[who].headers["Authorization"] = f"Bearer {ApiToken.issue(who, who.personal_workspace, 'f')[1]}"
    files = [("images[]", (f"{n}.jpg", encode(photo(size=(40 + n, 30)), "JPEG"), "image/jpeg"))
             for n in range(batch_size)]  # fmt: skip
    response = sessions[user].post(f"{live_server.url}/api/batches", files=files, data={"model": "anime-fast"},
                                   timeout=30)  # fmt: skip
    assert response.status_code == 202, response.text
    batch_id = response.json()["data"]["id"]
    single = sessions[other_user].post(f"{live_server.url}/api/images/upscale", timeout=30,
                                       files={"image": ("bob.jpg", encode(photo(size=(30, 30)), "JPEG"), "image/jpeg")},
                                       data={"model": "anime-fast"}).json()["data"]["id"]  # fmt: skip
    deadline = time.monotonic() + 300
    while (image := Image.objects.get(pk=single)).status in Image.UNFINISHED:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    done_before = Image.objects.filter(batch_id=batch_id, completed_at__lte=image.completed_at).count()
    assert image.status == Image.Status.COMPLETED
    assert done_before <= 3, done_before  # the window, and one the worker may have started meanwhile
    while Image.objects.filter(batch_id=batch_id, status__in=Image.UNFINISHED).exists():  # the batch still finishes
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert Image.objects.filter(batch_id=batch_id, status=Image.Status.COMPLETED).count() == batch_size


def _kill_its_worker(image_id: str, deadline: float) -> str:
    """SIGKILL the worker process that is running the image; its "host:pid"."""
    import os
    import signal

    while (image := Image.objects.get(pk=image_id)).status != Image.Status.PROCESSING:
        assert time.monotonic() < deadline, image.status
        time.sleep(0.05)
    time.sleep(0.5)  # into the job (decoding, the model, the tiles)
    os.kill(int(image.worker.rsplit(":", 1)[1]), signal.SIGKILL)
    return image.worker


def _sweep_once_silent(image_id: str, settings, deadline: float) -> str:
    """Wait for the dead worker's heartbeat to go stale, then run the stall sweep; the image's outcome."""
    from images.tasks import fail_stalled_images

    time.sleep(settings.STALLED_AFTER_SECONDS + 1)
    while not fail_stalled_images():
        assert time.monotonic() < deadline
        time.sleep(0.5)
    return Image.objects.get(pk=image_id).status


def test_a_killed_worker_s_image_is_retried_once_then_failed_with_a_refund(live_server, media_root, tmp_path, user,
                                                                           settings):  # fmt: skip
    from billing.quota import used_images

    settings.STALLED_AFTER_SECONDS = 3
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {ApiToken.issue(user, user.personal_workspace, 'kill')[1]}"

    def upload(n: int) -> str:
        jpeg = encode(photo(size=(160 + n, 120)), "JPEG")
        response = session.post(f"{live_server.url}/api/images/upscale", timeout=30, data={"scale_factor": "4"},
                                files={"image": ("cat.jpg", jpeg, "image/jpeg")})  # fmt: skip
        assert response.status_code == 202, response.text
        return response.json()["data"]["id"]

    deadline = time.monotonic() + 600
    with qcluster(media_root, tmp_path / "qcluster.log", HEARTBEAT_SECONDS="0.5"):
        # Killed once: queued again, and done by the worker Django-Q2 started in the dead one's place.
        retried = upload(0)
        killed = _kill_its_worker(retried, deadline)
        assert _sweep_once_silent(retried, settings, deadline) == Image.Status.PENDING
        while (image := Image.objects.get(pk=retried)).status in Image.UNFINISHED:
            assert time.monotonic() < deadline
            time.sleep(0.3)
        assert (image.status, image.attempts) == (Image.Status.COMPLETED, 2) and image.worker != killed

        # Killed twice: failed, and its image given back to the quota.
        failed = upload(1)
        used = used_images(user.personal_workspace)
        _kill_its_worker(failed, deadline)
        assert _sweep_once_silent(failed, settings, deadline) == Image.Status.PENDING
        _kill_its_worker(failed, deadline)
        assert _sweep_once_silent(failed, settings, deadline) == Image.Status.FAILED
    image = Image.objects.get(pk=failed)
    assert "twice" in image.error and used_images(user.personal_workspace) == used - 1


def test_an_upload_whose_task_the_broker_lost_is_sent_again_and_completes(live_server, media_root, tmp_path, user,
                                                                         settings):  # fmt: skip
    from django_q.brokers import get_broker

    from images.tasks import fail_stalled_images

    settings.STALLED_AFTER_SECONDS = 1
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {ApiToken.issue(user, user.personal_workspace, 'lost')[1]}"
    broker = get_broker()
    broker.purge_queue()
    jpeg = encode(photo(size=(40, 30)), "JPEG")
    response = session.post(f"{live_server.url}/api/images/upscale", data={"model": "anime-fast"}, timeout=30,
                            files={"image": ("cat.jpg", jpeg, "image/jpeg")})  # fmt: skip
    assert response.status_code == 202, response.text
    image_id = response.json()["data"]["id"]
    # No worker has taken it yet when the broker loses its queue (Redis restarted without its data).
    assert broker.queue_size() == 1
    broker.purge_queue()
    time.sleep(settings.STALLED_AFTER_SECONDS + 0.5)

    assert fail_stalled_images() == 1  # what the worker's minute schedule runs
    with qcluster(media_root, tmp_path / "qcluster.log"):
        deadline = time.monotonic() + 120
        while (image := Image.objects.get(pk=image_id)).status in Image.UNFINISHED:
            assert time.monotonic() < deadline, image.status
            time.sleep(0.3)
    assert (image.status, image.attempts) == ("completed", 1)
