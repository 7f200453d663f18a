"""Output and sizing options, through a real worker: ``output_format``/``output_quality``, fractional
scale factors, ``max_width``/``max_height`` (an input that already fills the box comes back unchanged,
without using quota), ``tune_colors``, and ``progress``.
"""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
import requests
from PIL import Image as PILImage

from accounts.models import ApiToken
from billing.quota import used_images
from images import jobs
from images.models import Image
from images.tests.factories import make_image
from upscaler_site.testing import encode, photo

URL = "/api/images/upscale"


def wait_for_all(session: requests.Session, base: str, ids: list[str], timeout: float = 300) -> dict[str, dict]:
    deadline, done = time.monotonic() + timeout, dict[str, dict]()
    while len(done) < len(ids):
        assert time.monotonic() < deadline, f"not done: {set(ids) - set(done)}"
        for image_id in set(ids) - set(done):
            data = session.get(f"{base}/api/images/{image_id}", timeout=10).json()["data"]
            if data["status"] in ("completed", "failed"):
                done[image_id] = data
        time.sleep(0.3)
    return done


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_output_and_sizing_options_through_a_real_worker(live_server, worker, user):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {ApiToken.issue(user, user.personal_workspace, 'e2e')[1]}"
    cat = photo(size=(48, 32))
    rgba = cat.convert("RGBA")
    rgba.paste((0, 0, 0, 0), (0, 0, 12, 32))  # a transparent left quarter
    jpeg, png_with_alpha = encode(cat, "JPEG", quality=92).getvalue(), encode(rgba, "PNG").getvalue()
    requests_ = {
        "png": (jpeg, {"output_format": "png", "scale_factor": "2", "model": "anime-fast"}),
        "webp": (jpeg, {"output_format": "webp", "output_quality": "40", "model": "anime-fast"}),
        "jpeg": (png_with_alpha, {"output_format": "jpeg", "model": "anime-fast"}),
        "fraction": (jpeg, {"scale_factor": "2.5", "model": "anime-fast"}),
        "box": (jpeg, {"max_width": "100", "model": "anime-fast"}),
        "unchanged": (jpeg, {"max_width": "40", "max_height": "40"}),
        "tuned": (jpeg, {"tune_colors": "true", "scale_factor": "2", "model": "anime-fast"}),
    }
    ids = {}
    for name, (content, options) in requests_.items():
        response = session.post(f"{live_server.url}{URL}", files={"image": (f"{name}.img", content)}, data=options,
                                timeout=30)  # fmt: skip
        assert response.status_code == 202, (name, response.text)
        ids[name] = response.json()["data"]["id"]
    assert used_images(user.personal_workspace) == len(requests_) - 1  # "unchanged" uses no quota

    done = wait_for_all(session, live_server.url, list(ids.values()))
    results = {name: done[image_id] for name, image_id in ids.items()}
    for name, data in results.items():
        assert (data["status"], data["progress"]) == ("completed", 100), (name, data["error"])

    def result_file(name: str) -> bytes:
        link = session.get(f"{live_server.url}/api/images/{ids[name]}/download", timeout=10).json()["data"]
        return requests.get(link["download_url"], timeout=30).content

    def opened(name: str) -> PILImage.Image:
        return PILImage.open(io.BytesIO(result_file(name)))

    assert (opened("png").format, opened("png").size, results["png"]["upscaled_format"]) == ("PNG", (96, 64), "PNG")
    webp = opened("webp")
    assert (webp.format, results["webp"]["output_quality"]) == ("WEBP", 40)
    assert results["webp"]["upscaled_size"] == len(result_file("webp"))
    flat = opened("jpeg")
    assert (flat.format, flat.mode) == ("JPEG", "RGB")
    assert np.asarray(flat.convert("L"))[:, :20].mean() > 240  # the transparent quarter is white
    assert (results["fraction"]["scale_factor"], results["fraction"]["upscaled_dimensions"]) == (2.5, "120x80")
    assert results["box"]["upscaled_dimensions"] == "100x66" and results["box"]["max_width"] == 100
    unchanged = results["unchanged"]
    assert (unchanged["upscaled_dimensions"], unchanged["scale_chain"], unchanged["processing_time"]) == (
        "48x32", [], 0.0
    )  # fmt: skip
    assert result_file("unchanged") == jpeg  # byte for byte
    assert results["tuned"]["tune_colors"] is True
    assert used_images(user.personal_workspace) == len(requests_) - 1


@pytest.mark.django_db
def test_the_worker_records_progress_and_notices_a_cancelled_job(user):
    image = make_image(user, status=Image.Status.PROCESSING)
    report = jobs.watch(image, every=0)
    report(0.42)
    assert Image.objects.get(pk=image.pk).progress == 42
    report(1.0)
    assert Image.objects.get(pk=image.pk).progress == 99  # 100 is for completed
    Image.objects.filter(pk=image.pk).update(status=Image.Status.FAILED)
    with pytest.raises(jobs.JobCancelled):
        report(0.5)


@pytest.mark.django_db
def test_the_status_endpoint_has_its_own_generous_limit(api, user, settings):
    from billing.models import Plan

    Plan.objects.filter(slug="enterprise").update(requests_per_hour=2)
    settings.STATUS_REQUESTS_PER_HOUR = 5
    image = make_image(user, status=Image.Status.PROCESSING)
    Image.objects.filter(pk=image.pk).update(progress=37)
    statuses = [api.get(f"/api/images/{image.pk}/status") for _ in range(6)]
    assert [r.status_code for r in statuses] == [200] * 5 + [429]
    assert statuses[0].json()["data"] == {"id": str(image.pk), "status": "processing", "progress": 37}
    assert "status polling" in statuses[-1].json()["message"]
    assert [api.get("/api/images").status_code for _ in range(3)] == [200, 200, 429]  # the plan's, untouched


@pytest.mark.django_db
def test_webp_beyond_its_largest_side_is_refused_before_anything_is_stored(api):
    response = api.post(URL, {"image": encode(photo(size=(1100, 10))), "target_width": "16384",
                              "output_format": "webp"})  # fmt: skip
    assert response.status_code == 422
    assert "WebP images can be at most 16383" in response.json()["errors"]["output_format"][0]
    assert not Image.objects.exists()
