"""The upscale task and the stall sweep, run in-process with the real model."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
import torch
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image as PILImage

from images import jobs
from images.models import Image
from images.tasks import fail_stalled_images, on_task_done, upscale_image
from images.tests.factories import make_image

pytestmark = pytest.mark.django_db


def test_pending_image_is_upscaled_and_stored(user):
    image = make_image(user, size=(24, 18))
    image.scale_factor, image.target_width, image.target_height = 4, 96, 72
    image.save()

    assert upscale_image(str(image.pk)) == "completed"

    image.refresh_from_db()
    assert image.status == Image.Status.COMPLETED
    assert (image.upscaled_width, image.upscaled_height, image.upscaled_format) == (96, 72, "PNG")
    assert image.scale_chain == [4]
    assert image.processing_time > 0 and image.started_at and image.completed_at
    with image.upscaled.open("rb") as fh:
        assert PILImage.open(fh).size == (96, 72)
    assert image.upscaled_size == image.upscaled.size


def test_target_size_is_met_exactly(user):
    image = make_image(user, size=(24, 18), target_width=53, target_height=41)
    upscale_image(str(image.pk))
    image.refresh_from_db()
    assert (image.upscaled_width, image.upscaled_height) == (53, 41)


def test_an_image_already_claimed_is_skipped(user):
    image = make_image(user, status=Image.Status.PROCESSING)
    assert upscale_image(str(image.pk)) == "skipped"
    assert upscale_image("00000000-0000-0000-0000-000000000000") == "skipped"


def test_corrupt_original_fails_with_a_reason(user):
    image = make_image(user)
    image.original.storage.delete(image.original.name)
    image.original.storage.save(image.original.name, ContentFile(b"garbage"))

    assert upscale_image(str(image.pk)) == "failed"
    image.refresh_from_db()
    assert image.error == "The file is not a valid image."
    assert not image.upscaled


def test_missing_original_fails_with_a_reason(user):
    image = make_image(user)
    image.original.storage.delete(image.original.name)
    upscale_image(str(image.pk))
    image.refresh_from_db()
    assert (image.status, image.error) == ("failed", "The original file is missing from storage.")


def test_a_model_producing_nan_fails_the_job(user, monkeypatch):
    import inference.pipeline

    class NaNNetwork:
        def __call__(self, x: torch.Tensor) -> torch.Tensor:
            return torch.full((1, 3, x.shape[2] * 4, x.shape[3] * 4), float("nan"))

    monkeypatch.setattr(inference.pipeline, "load_network", lambda *a: NaNNetwork())
    image = make_image(user)
    upscale_image(str(image.pk))
    image.refresh_from_db()
    assert image.status == "failed"
    assert "invalid values" in image.error


def test_an_unexpected_error_fails_the_job_without_internals(user, monkeypatch):
    import inference.pipeline

    def explode(*args, **kwargs):
        raise RuntimeError("CUDA driver internal state 0xdeadbeef")

    monkeypatch.setattr(inference.pipeline, "upscale_tiled", explode)
    image = make_image(user)
    assert upscale_image(str(image.pk)) == "failed"
    image.refresh_from_db()
    assert image.error == "Processing failed because of an internal error."


def test_an_image_deleted_while_processing_leaves_no_file(user, monkeypatch, media_root):
    import inference.pipeline

    image = make_image(user)
    real = inference.pipeline.upscale_tiled

    def delete_meanwhile(*args, **kwargs):
        Image.objects.filter(pk=image.pk).delete()
        return real(*args, **kwargs)

    monkeypatch.setattr(inference.pipeline, "upscale_tiled", delete_meanwhile)
    upscale_image(str(image.pk))
    assert not list(media_root.rglob("upscaled_*"))


def test_images_whose_worker_died_are_queued_again_once_then_failed(user, settings):
    now = timezone.now()
    silent = now - timedelta(seconds=settings.STALLED_AFTER_SECONDS + 5)
    first = make_image(user, status=Image.Status.PROCESSING, started_at=silent, heartbeat_at=silent, attempts=1)
    second = make_image(user, status=Image.Status.PROCESSING, started_at=silent, heartbeat_at=silent, attempts=2)
    old = make_image(user, status=Image.Status.PROCESSING, heartbeat_at=now, attempts=2,
                     started_at=now - timedelta(seconds=settings.UPSCALE_TASK_TIMEOUT + 300))  # fmt: skip
    beating = make_image(user, status=Image.Status.PROCESSING, started_at=silent, heartbeat_at=now, attempts=1)
    done = make_image(user, status=Image.Status.COMPLETED, started_at=now - timedelta(days=1))

    assert fail_stalled_images() == 3

    statuses = dict(Image.objects.values_list("pk", "status"))
    assert statuses == {first.pk: "pending", second.pk: "failed", old.pk: "failed", beating.pk: "processing",
                        done.pk: "completed"}  # fmt: skip
    first.refresh_from_db()
    assert (first.queued, first.started_at, first.progress) == (True, None, 0)
    second.refresh_from_db()
    assert "twice" in second.error


def test_tasks_the_broker_lost_are_sent_again_once_its_queue_is_empty(user, settings,
                                                                     django_capture_on_commit_callbacks):  # fmt: skip
    from django_q.brokers import get_broker
    from django_q.tasks import async_task

    broker = get_broker()
    broker.purge_queue()
    now = timezone.now()
    long_ago = now - timedelta(seconds=settings.STALLED_AFTER_SECONDS + 5)
    lost = make_image(user, queued=True, queued_at=long_ago)
    never_sent = make_image(user, queued=True)  # its process died between the commit and the send
    Image.objects.filter(pk=never_sent.pk).update(created_at=long_ago)
    just_sent = make_image(user, queued=True, queued_at=now)
    waiting_its_turn = make_image(user, queued=False)  # a batch's, not sent yet: queue_stranded's business
    async_task("math.floor", 1.5)

    assert fail_stalled_images() == 0  # something is still queued: the images may be waiting behind it

    broker.purge_queue()  # what a Redis restarted without its data leaves
    with django_capture_on_commit_callbacks(execute=True):
        assert fail_stalled_images() == 2
    assert broker.queue_size() == 2
    for image in (lost, never_sent):
        image.refresh_from_db()
        assert (image.status, image.queued) == ("pending", True) and image.task_id
        assert image.queued_at > now
    assert fail_stalled_images() == 0
    assert Image.objects.filter(pk__in=[just_sent.pk, waiting_its_turn.pk], task_id="").count() == 2
    broker.purge_queue()


def test_a_crashed_task_fails_its_image(user):
    image = make_image(user, status=Image.Status.PROCESSING)

    class Task:
        success = False
        args = (str(image.pk),)

    on_task_done(Task())
    image.refresh_from_db()
    assert image.status == "failed"


def test_the_sweep_is_scheduled_every_minute():
    from django_q.models import Schedule

    schedule = Schedule.objects.get(func="images.tasks.fail_stalled_images")
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == (Schedule.MINUTES, 1, -1)


def test_rgba_png_keeps_its_alpha(user):
    rgba = PILImage.new("RGBA", (20, 16), (200, 30, 30, 255))
    rgba.putalpha(PILImage.linear_gradient("L").resize((20, 16)))
    image = make_image(user)
    image.original.storage.delete(image.original.name)
    image.original.storage.save(image.original.name, ContentFile(_png(rgba)))
    image.original_width, image.original_height, image.target_width, image.target_height = 20, 16, 40, 32
    image.save()

    upscale_image(str(image.pk))
    image.refresh_from_db()
    with image.upscaled.open("rb") as fh:
        out = PILImage.open(fh)
        out.load()
    assert (out.mode, out.size, image.upscaled_format) == ("RGBA", (40, 32), "PNG")
    alpha = np.asarray(out)[:, :, 3]
    assert alpha[0].mean() < 40 and alpha[-1].mean() > 215  # the gradient survived


def _png(img: PILImage.Image) -> bytes:
    import io

    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_16x_chains_two_4x_passes(user):
    image = make_image(user, size=(12, 9), model="anime-fast", scale_factor=16, target_width=192, target_height=144)
    assert upscale_image(str(image.pk)) == "completed"
    image.refresh_from_db()
    assert image.scale_chain == [4, 4]
    assert (image.upscaled_width, image.upscaled_height) == (192, 144)


def test_max_quality_runs_the_self_ensemble(user, monkeypatch):
    import inference.pipeline

    calls = []
    real = inference.pipeline.self_ensemble
    monkeypatch.setattr(inference.pipeline, "self_ensemble", lambda net: calls.append(net) or real(net))
    image = make_image(user, size=(16, 12), model="precise", max_quality=True)
    assert upscale_image(str(image.pk)) == "completed"
    image.refresh_from_db()
    assert calls and image.scale_chain == [2]


def test_the_worker_runs_model_used_not_the_request(user):
    image = make_image(user, size=(16, 12), model="auto", model_used="anime-fast")
    upscale_image(str(image.pk))
    image.refresh_from_db()
    assert image.status == "completed" and image.model_used == "anime-fast"


def test_a_job_cancelled_meanwhile_stops_at_its_next_progress_check(user, monkeypatch, media_root):
    image = make_image(user, size=(24, 18))
    real_watch = jobs.watch

    def cancelled_after_the_first_tile(image_, every: float = 0):
        check = real_watch(image_, every=0)

        def progress(fraction: float) -> None:
            jobs.fail(Image.objects.get(pk=image_.pk), "cancelled")  # the batch is cancelled meanwhile
            check(fraction)

        return progress

    monkeypatch.setattr(jobs, "watch", cancelled_after_the_first_tile)
    assert upscale_image(str(image.pk)) == "cancelled"
    image.refresh_from_db()
    assert (image.status, image.error, image.upscaled.name) == ("failed", "cancelled", "")
    assert not list((media_root / "images" / str(image.pk)).glob("upscaled*"))


def test_watching_a_job_looks_at_the_database_at_most_every_few_seconds(user, django_assert_num_queries):
    image = make_image(user, status=Image.Status.PROCESSING)
    check = jobs.watch(image, every=3600)
    with django_assert_num_queries(0):
        for _ in range(100):
            check(0.5)
    check = jobs.watch(image, every=0)
    with django_assert_num_queries(1):
        check(0.5)
    Image.objects.filter(pk=image.pk).update(status=Image.Status.FAILED)
    with pytest.raises(jobs.JobCancelled):
        check(0.6)
