"""Batch counters and status when images finish at the same moment on several workers."""

from __future__ import annotations

import io
import threading

import pytest
from django.db import close_old_connections, connection

from batches.models import Batch
from batches.tests.test_batches_api import upload
from images import jobs
from images.models import Image
from upscaler_site.testing import client_for, encode, photo

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_concurrent_outcomes_lose_no_update(user):
    """12 images claimed, then finished by 12 threads at once (each its own DB connection)."""
    files = [encode(photo(crop=(i, i, i + 16, i + 16)), "PNG", f"p{i}.png") for i in range(12)]
    data = upload(client_for(user), files, scale_factor=2, model="anime-fast").json()["data"]
    images = list(Image.objects.filter(batch_id=data["id"]))
    for image in images:
        assert jobs.claim(image)
    results = {image.pk: encode(photo(size=(32, 32)), "PNG").getvalue() for image in images}
    start = threading.Barrier(len(images))
    errors: list[BaseException] = []

    def finish(image: Image, index: int) -> None:

        try:
            start.wait()
            if index % 3 == 0:
                jobs.fail(image, "broken")
            else:
                jobs.complete(image, io.BytesIO(results[image.pk]), "png", width=32, height=32, fmt="PNG",
                               scale_chain=[2], seconds=0.1)  # fmt: skip
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=finish, args=(image, i)) for i, image in enumerate(images)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    batch = Batch.objects.get(pk=data["id"])
    assert (batch.completed_images, batch.failed_images) == (8, 4)
    assert batch.status == "partially_failed" and batch.progress == 100 and batch.completed_at is not None
