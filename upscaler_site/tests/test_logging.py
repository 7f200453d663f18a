"""Structured logs: the request id answered to an upload is in the worker's JSON log lines about its job
and about its webhook; ``SENTRY_DSN`` sends errors to Sentry (a local stand-in receives the envelope)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time

import pytest
import requests

from accounts.models import ApiToken
from images.models import Image
from upscaler_site.testing import ROOT, LocalServer, encode, photo, qcluster


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_request_id_follows_an_upload_into_the_worker_and_its_webhook(live_server, media_root, tmp_path, user):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {ApiToken.issue(user, user.personal_workspace, 'logs')[1]}"
    log_path = tmp_path / "worker.log"
    with (
        LocalServer(lambda request: (200, {}, b"ok")) as receiver,
        qcluster(media_root, log_path, OUTBOUND_ALLOWED_HOSTS="127.0.0.1", SITE_URL=live_server.url),
    ):
        response = session.post(f"{live_server.url}/api/images/upscale", timeout=30,
                                files={"image": ("cat.jpg", encode(photo(size=(40, 30)), "JPEG"), "image/jpeg")},
                                data={"model": "anime-fast", "webhook_url": f"{receiver.url}/hook"})  # fmt: skip
        assert response.status_code == 202, response.text
        request_id = response.headers["X-Request-ID"]
        image_id = response.json()["data"]["id"]
        assert Image.objects.get(pk=image_id).request_id == request_id
        deadline = time.monotonic() + 120
        while not receiver.received:
            assert time.monotonic() < deadline, "no webhook"
            time.sleep(0.2)
        time.sleep(0.5)  # the attempt's log line follows the answer
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    ours = [line for line in lines if line.get("request_id") == request_id]
    events = {line["event"] for line in ours}
    assert {"job_started", "job_finished", "webhook_attempt"} <= events, events
    finished = next(line for line in ours if line["event"] == "job_finished")
    assert (finished["image_id"], finished["status"], finished["level"]) == (image_id, "completed", "info")
    assert all("timestamp" in line and "logger" in line for line in lines)


def decompress(body: bytes, encoding: str | None) -> bytes:
    """An envelope's body: sentry-sdk compresses with brotli when it is installed (locust brings it), else gzip."""
    if encoding == "br":
        import brotli  # type: ignore[import-untyped]

        return bytes(brotli.decompress(body))
    return gzip.decompress(body) if encoding == "gzip" else body


def test_sentry_dsn_sends_errors_to_sentry():
    with LocalServer(lambda request: (200, {"Content-Type": "application/json"}, b"{}")) as sentry:
        dsn = f"http://public@127.0.0.1:{sentry.port}/1"
        script = (
            "import django, logging, sentry_sdk; django.setup(); "
            "logging.getLogger('upscaler').error('the storage is on fire'); sentry_sdk.flush(5)"
        )
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "upscaler_site.settings", "DEBUG": "1", "SENTRY_DSN": dsn}
        subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=60, capture_output=True)
    bodies = [decompress(r.body, r.headers.get("Content-Encoding")) for r in sentry.received
              if r.path.startswith("/api/1/envelope")]  # fmt: skip
    assert any(b"the storage is on fire" in body for body in bodies)
