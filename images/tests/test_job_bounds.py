"""Work is bounded by what the network computes, not by what the request names; the web tier reads
headers only (security, issue #11 items 3 and 4)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.exceptions import TimeoutException
from PIL import Image as PILImage

from billing.models import Plan, Subscription
from billing.quota import used_images
from images import jobs, tasks
from images.models import Image
from images.tests.factories import make_image
from upscaler_site.testing import bilevel_png, client_for, encode, make_user, photo

pytestmark = pytest.mark.django_db

URL = "/api/images/upscale"


def flat_png(width: int, height: int) -> io.BytesIO:
    """A flat 1-bit PNG upload: megapixels of image in kilobytes of file."""
    buffer = io.BytesIO(bilevel_png(width, height))
    buffer.name = "flat.png"
    return buffer


def on_plan(slug: str, email: str):
    person = make_user(email)
    if slug != "free":
        Subscription.objects.create(workspace=person.personal_workspace, plan=Plan.objects.get(slug=slug))
    return person, client_for(person)


def test_the_issues_7999_square_flat_png_is_refused_by_its_header(no_decoding):
    """0.3 MB of file, 64 MP of image, x1.0001 asked: Free takes 4 MP."""
    _, api = on_plan("free", "free@example.com")
    response = api.post(URL, {"image": flat_png(7999, 7999), "target_width": "8000"})
    assert response.status_code == 422
    assert "at most 4.0 MP" in response.json()["errors"]["image"][0]
    assert Image.objects.count() == 0 and no_decoding == []


def test_what_the_network_produces_is_capped_not_just_the_output(no_decoding):
    """Enterprise takes 25 MP in, but x1.0002 of it runs the x4 network: 400 MP, over its 256."""
    _, api = on_plan("enterprise", "big@example.com")
    response = api.post(URL, {"image": flat_png(5000, 5000), "target_width": "5001"})
    assert response.status_code == 422
    message = response.json()["errors"]["target_width"][0]
    assert "runs the network at x4" in message and "the limit is 256 MP" in message
    # The same image at x2 with precise (native x2: 100 MP) is within the cap.
    accepted = api.post(URL, {"image": flat_png(5000, 5000), "target_width": "5001", "model": "precise"})
    assert accepted.status_code == 202, accepted.json()
    assert no_decoding == []


def test_free_takes_photos_up_to_its_caps(no_decoding):
    _, api = on_plan("free", "small@example.com")
    assert api.post(URL, {"image": flat_png(2000, 2000), "scale_factor": "2"}).status_code == 422  # 64 MP > 16
    ok = api.post(URL, {"image": flat_png(1000, 1000), "scale_factor": "2"})  # x4 pass: 16 MP
    assert ok.status_code == 202, ok.json()
    assert no_decoding == []


def test_a_job_gets_a_time_limit_from_its_work(user):
    api = client_for(user)
    small = api.post(URL, {"image": encode(photo(size=(40, 30))), "model": "anime-fast"}).json()["data"]
    large = api.post(URL, {"image": flat_png(2000, 1500), "scale_factor": "4"}).json()["data"]
    small_limit = Image.objects.get(pk=small["id"]).time_limit
    large_limit = Image.objects.get(pk=large["id"]).time_limit
    assert small_limit == jobs.MIN_TIME_LIMIT
    # 3 MP through Real-ESRGAN x4 at 430 s per megapixel, with the margin of 2.
    assert large_limit == pytest.approx(2 * 3.0 * 430, rel=0.01)


def test_a_job_that_would_outlast_the_worker_timeout_is_refused(user, settings):
    settings.UPSCALE_TASK_TIMEOUT = 600  # 300 s of CPU budget at the margin of 2
    response = client_for(user).post(URL, {"image": flat_png(1000, 1000), "scale_factor": "4"})
    assert response.status_code == 422
    assert "would take up to" in response.json()["errors"]["scale_factor"][0]


def test_auto_with_max_quality_is_refused_up_front(user):
    response = client_for(user).post(URL, {"image": encode(photo(size=(40, 30))), "model": "auto",
                                           "max_quality": "true"})  # fmt: skip
    assert response.status_code == 422 and "max_quality" in response.json()["errors"]


def test_too_many_unfinished_jobs_is_429_and_counts_nothing():
    person, api = on_plan("starter", "busy@example.com")  # 5 at once
    codes = [api.post(URL, {"image": encode(photo(size=(40, 30)))}).status_code for _ in range(6)]
    assert codes == [202] * 5 + [429]
    assert used_images(person.personal_workspace) == 5
    # Once one finishes, there is room again.
    first = Image.objects.in_workspace(person.personal_workspace).last()
    jobs.fail(first, "done with it")
    assert api.post(URL, {"image": encode(photo(size=(40, 30)))}).status_code == 202


def test_a_batch_counts_all_its_images_against_the_cap(user):
    Plan.objects.filter(slug="enterprise").update(max_unfinished_jobs=3)
    api = client_for(user)
    files = [encode(photo(crop=(i, 0, i + 40, 30)), "PNG", f"p{i}.png") for i in range(4)]
    response = api.post("/api/batches", {"images": files})
    assert response.status_code == 429
    assert "allows 3 at once" in response.json()["message"]
    assert Image.objects.count() == 0


# --- the worker's side ------------------------------------------------------------------------------------


def test_damage_inside_the_pixels_fails_the_job_in_the_worker_with_a_refund(user):
    """The header and the last bytes are intact, so the web tier accepts it; the worker cannot decode it."""
    data = bytearray(encode(photo(size=(64, 48)), "PNG").getvalue())
    start = data.index(b"IDAT") + 8
    data[start : start + 200] = bytes(200)  # garbage in the compressed pixels
    upload = io.BytesIO(bytes(data))
    upload.name = "damaged.png"
    api = client_for(user)
    response = api.post(URL, {"image": upload})
    assert response.status_code == 202, response.json()
    image = Image.objects.get(pk=response.json()["data"]["id"])
    assert used_images(image.workspace) == 1
    assert tasks.upscale_image(str(image.pk)) == "failed"
    image.refresh_from_db()
    assert image.error == "The image file is truncated or corrupt."
    assert used_images(image.workspace) == 0


def test_the_worker_stores_both_thumbnails_once(user):
    api = client_for(user)
    data = api.post(URL, {"image": encode(photo(size=(40, 30))), "model": "anime-fast"}).json()["data"]
    tasks.upscale_image(data["id"])
    image = Image.objects.get(pk=data["id"])
    assert image.status == "completed"
    for field in (image.original_thumbnail, image.result_thumbnail):
        with field.open("rb") as handle:
            assert PILImage.open(handle).format == "JPEG"


def test_a_job_stopped_by_its_time_limit_fails_without_a_refund(user, monkeypatch):
    import inference.pipeline

    def too_slow(*args, **kwargs):
        raise TimeoutException("Task exceeded maximum timeout value (300 seconds)")

    monkeypatch.setattr(inference.pipeline, "upscale_source", too_slow)
    data = client_for(user).post(URL, {"image": encode(photo(size=(40, 30)))}).json()["data"]
    with pytest.raises(TimeoutException):
        tasks.upscale_image(data["id"])
    image = Image.objects.get(pk=data["id"])
    assert (image.status, image.error) == ("failed", tasks.TIMED_OUT)
    assert used_images(image.workspace) == 1  # no refund: it cannot be repeated for free


def test_the_stall_sweep_follows_each_jobs_own_time_limit(user):
    now = timezone.now()
    # Both still beat: only their time limits tell them apart.
    late = make_image(user, status=Image.Status.PROCESSING, time_limit=600, started_at=now - timedelta(seconds=800),
                      heartbeat_at=now, attempts=2)  # fmt: skip
    running = make_image(user, status=Image.Status.PROCESSING, time_limit=3600,
                         started_at=now - timedelta(seconds=800), heartbeat_at=now)  # fmt: skip
    assert tasks.fail_stalled_images() == 1
    late.refresh_from_db()
    running.refresh_from_db()
    assert (late.status, running.status) == ("failed", "processing")
