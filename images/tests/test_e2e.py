"""End to end: HTTP upload -> a real ``qcluster`` worker -> Real-ESRGAN -> HTTP download.

The web server is pytest-django's live server; the worker is ``manage.py qcluster``
in a subprocess, pointed at the same test database, broker and media folder (the
``worker`` fixture of the root conftest).
"""

from __future__ import annotations

import io
import json
import time

import numpy as np
import psutil
import pytest
import requests
from PIL import Image as PILImage
from scipy import ndimage

from accounts.models import ApiToken
from inference.gpus import visible_gpus
from upscaler_site.testing import encode, maps_library, photo, psnr, qcluster

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def wait_for(session: requests.Session, url: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = session.get(url, timeout=10).json()["data"]
        if data["status"] in ("completed", "failed"):
            return data
        time.sleep(0.5)
    raise AssertionError(f"image still {data['status']} after {timeout} s")


def test_a_real_photo_is_upscaled_4x_by_a_real_worker(live_server, worker, user):
    session = requests.Session()
    _, key = ApiToken.issue(user, user.personal_workspace, "e2e")
    session.headers["Authorization"] = f"Bearer {key}"
    # A 160x120 crop of a real photo (the cat's face), at its native resolution.
    original = photo(crop=(140, 40, 300, 160))

    response = session.post(
        f"{live_server.url}/api/images/upscale",
        files={"image": ("cat.jpg", encode(original, "JPEG", quality=92), "image/jpeg")},
        data={"scale_factor": "4"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    image_id = response.json()["data"]["id"]

    data = wait_for(session, f"{live_server.url}/api/images/{image_id}")
    assert data["status"] == "completed", data["error"]
    assert data["upscaled_dimensions"] == "640x480"
    assert data["processing_time"] > 0
    assert data["scale_chain"] == [4]

    link = session.get(f"{live_server.url}/api/images/{image_id}/download", timeout=10).json()["data"]
    assert link["filename"] == "cat_upscaled_640x480.jpg"
    downloaded = requests.get(link["download_url"], timeout=30)  # the signed URL needs no token
    assert downloaded.status_code == 200
    result = PILImage.open(io.BytesIO(downloaded.content))
    assert (result.format, result.size) == ("JPEG", (640, 480))

    # Not a plain resize: far from bicubic, and much richer in fine detail.
    out = np.asarray(result.convert("RGB"), dtype=np.float64)
    bicubic = np.asarray(original.resize((640, 480), PILImage.Resampling.BICUBIC), dtype=np.float64)
    assert psnr(out, bicubic) < 32.0

    def detail(a: np.ndarray) -> float:
        return float(ndimage.laplace(a.mean(axis=2)).var())

    assert detail(out) > 3 * detail(bicubic)

    # PyTorch was loaded by the worker process that ran the model, never by the qcluster
    # processes that fork workers (a parent's loaded thread pool breaks in a forked child).
    qcluster = psutil.Process(worker.pid)
    tree = [qcluster, *qcluster.children(recursive=True)]
    with_torch = [process for process in tree if maps_library(process, "libtorch")]
    assert with_torch, f"no process of {tree} ran PyTorch"
    assert not [process for process in with_torch if process.children()], "a qcluster parent imported PyTorch"


@pytest.mark.skipif(visible_gpus() == 0, reason="no NVIDIA GPU")
def test_a_gpu_host_runs_a_worker_per_gpu_and_upscales_on_it(live_server, media_root, tmp_path, user, monkeypatch):
    """Run on a GPU host (CI has none): the worker's defaults, with nothing about GPUs configured."""
    for name in ("Q_WORKERS", "UPSCALER_DEVICE", "CUDA_VISIBLE_DEVICES"):
        monkeypatch.delenv(name, raising=False)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {ApiToken.issue(user, user.personal_workspace, 'e2e')[1]}"
    log_path = tmp_path / "qcluster.log"

    with qcluster(media_root, log_path, UPSCALE_WARM_MODELS="anime-fast"):
        ids = []
        for index in range(4):  # different bytes each, or the result cache would serve the first result
            jpeg = encode(photo(crop=(140, 40, 300, 160)), "JPEG", quality=80 + index)
            response = session.post(
                f"{live_server.url}/api/images/upscale",
                files={"image": (f"{index}.jpg", jpeg, "image/jpeg")},
                data={"model": "anime-fast", "scale_factor": "4"},
                timeout=30,
            )
            assert response.status_code == 202, response.text
            ids.append(response.json()["data"]["id"])
        results = [wait_for(session, f"{live_server.url}/api/images/{image_id}") for image_id in ids]

    assert [(r["status"], r["upscaled_dimensions"]) for r in results] == [("completed", "640x480")] * 4
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    warmed = [line["device"] for line in lines if line.get("event") == "worker_warmed"]
    upscaled = {line["device"] for line in lines if line.get("event") == "job_upscaled"}
    # One worker process per GPU, each on a GPU of its own (inference.gpus.claim_gpu).
    gpus = visible_gpus()
    assert len(warmed) == gpus and len(set(warmed)) == gpus and all(d.startswith("cuda") for d in warmed)
    assert upscaled <= set(warmed) and upscaled
