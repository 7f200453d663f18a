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
