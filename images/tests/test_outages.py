"""PostgreSQL or Redis briefly gone, for real: gunicorn and a worker reach them through a TCP proxy the
test cuts. Uploads then answer 503 in the envelope with ``Retry-After`` and leave nothing behind (no row,
no quota, no file); once the service is back, web and worker reconnect by themselves. Runs on
PostgreSQL + Redis (``.ci/run``'s second pass)."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings
from django.db import connection

from accounts.models import ApiToken
from billing.quota import used_images
from images.models import Image
from upscaler_site.testing import TcpProxy, database_url, encode, gunicorn, photo, qcluster

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        not settings.REDIS_URL or connection.vendor != "postgresql",
        reason="needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL)",
    ),
]


def test_uploads_answer_503_while_postgres_or_redis_is_down_and_recover(media_root, tmp_path, user):
    database, redis = urlsplit(database_url()), urlsplit(settings.REDIS_URL)
    key = ApiToken.issue(user, user.personal_workspace, "outage")[1]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    sizes = iter(range(40, 80))

    def upload(web: str) -> requests.Response:
        jpeg = encode(photo(size=(next(sizes), 30)), "JPEG")
        return session.post(f"{web}/api/images/upscale", files={"image": ("cat.jpg", jpeg, "image/jpeg")},
                            data={"model": "anime-fast"}, timeout=60)  # fmt: skip

    def completes(image_id: str) -> None:
        deadline = time.monotonic() + 120
        while (image := Image.objects.get(pk=image_id)).status in Image.UNFINISHED:
            assert time.monotonic() < deadline, "the worker did not take the image after the outage"
            time.sleep(0.3)
        assert image.status == Image.Status.COMPLETED, image.error

    with (
        TcpProxy(database.hostname or "127.0.0.1", database.port or 5432) as pg,
        TcpProxy(redis.hostname or "127.0.0.1", redis.port or 6379) as cache,
    ):
        env = {"DATABASE_URL": pg.url_for(database_url()), "REDIS_URL": cache.url_for(settings.REDIS_URL)}
        with gunicorn(media_root, tmp_path / "web.log", **env) as web, qcluster(media_root, tmp_path / "q.log", **env):
            first = upload(web)
            assert first.status_code == 202, first.text
            completes(first.json()["data"]["id"])
            for service in (pg, cache):
                images, used = Image.objects.count(), used_images(user.personal_workspace)
                files = sorted(media_root.rglob("*.*"))
                service.cut()
                refused = upload(web)
                assert refused.status_code == 503, refused.text
                assert refused.headers["Retry-After"] == "30" and refused.json()["success"] is False
                service.restore()
                assert Image.objects.count() == images and used_images(user.personal_workspace) == used
                assert sorted(media_root.rglob("*.*")) == files  # no orphan file
                deadline = time.monotonic() + 60
                while (again := upload(web)).status_code == 503:  # the web tier reconnects by itself
                    assert time.monotonic() < deadline
                    time.sleep(1)
                assert again.status_code == 202, again.text
                completes(again.json()["data"]["id"])  # and so does the worker
