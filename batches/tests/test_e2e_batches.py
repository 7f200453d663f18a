"""End to end: a 20-image batch over HTTP, processed by two real ``qcluster`` workers at once.

Two worker processes (as on two hosts) share the test database, the broker and the
media folder. The batch's counters must end at exactly 20 with progress only ever
going up, and both workers must have taken part.
"""

from __future__ import annotations

import io
import time
import zipfile

import pytest
import requests

from accounts.models import ApiToken
from upscaler_site.testing import encode, photo, qcluster

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def two_workers(live_server, media_root, tmp_path):
    """Two Django-Q2 clusters of one worker each, one PyTorch thread each (the machine has 2 cores).

    Yields the paths of their logs.
    """
    logs = [tmp_path / "qcluster-1.log", tmp_path / "qcluster-2.log"]
    with qcluster(media_root, logs[0], OMP_NUM_THREADS="1"), qcluster(media_root, logs[1], OMP_NUM_THREADS="1"):
        # Both must be up before the batch arrives, or on a loaded machine the first one
        # could finish all 20 tiny images before the second has started.
        deadline = time.monotonic() + 120
        while not all("running." in log.read_text(errors="replace") for log in logs):
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.2)
        yield logs


def test_a_twenty_image_batch_on_two_workers(live_server, two_workers, user):
    session = requests.Session()
    _, key = ApiToken.issue(user, user.personal_workspace, "e2e")
    session.headers["Authorization"] = f"Bearer {key}"
    files = [("images", (f"crop{i}.png", encode(photo(crop=(12 * i, 8 * i, 12 * i + 32, 8 * i + 24)), "PNG"),
              "image/png")) for i in range(20)]  # fmt: skip

    fields = {"scale_factor": "2", "model": "anime-fast", "name": "twenty"}
    response = session.post(f"{live_server.url}/api/batches", files=files, data=fields, timeout=60)
    assert response.status_code == 202, response.text
    batch_id = response.json()["data"]["id"]

    seen: list[tuple[int, int, int]] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        data = session.get(f"{live_server.url}/api/batches/{batch_id}", timeout=10).json()["data"]
        seen.append((data["progress"], data["completed_images"], data["failed_images"]))
        if data["status"] not in ("pending", "processing"):
            break
        time.sleep(0.3)
    assert data["status"] == "completed", [(i["original_filename"], i["error"]) for i in data["images"]]
    assert (data["total_images"], data["completed_images"], data["failed_images"], data["progress"]) == (20, 20, 0, 100)
    assert seen == sorted(seen)  # progress and counters only ever went up
    assert all(progress == 100 * (done + failed) // 20 for progress, done, failed in seen)
    assert all(i["status"] == "completed" and i["upscaled_dimensions"] == "64x48" for i in data["images"])

    # Both workers took part. A worker's monitor process logs "Processed" only after the
    # task has already saved its image, so the last of these lines can lag the API by a second.
    deadline = time.monotonic() + 60
    while not all("Processed" in log.read_text(errors="replace") for log in two_workers):
        assert time.monotonic() < deadline, [log.name for log in two_workers if "Processed" not in log.read_text()]
        time.sleep(0.2)

    archive = session.get(f"{live_server.url}/api/batches/{batch_id}/archive", timeout=60)
    assert archive.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
    assert sorted(names) == sorted(f"crop{i}_upscaled_64x48.png" for i in range(20))
