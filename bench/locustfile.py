"""The clients of ``bench/load.py``: each uploads a small photo, polls its status until it is final, and
starts again. Run by ``bench/load.py``, which passes the API tokens in ``LOAD_TOKENS`` (one workspace each)
and the pause between two polls in ``LOAD_POLL_SECONDS``.

Every upload is a different file (a random crop, one pixel changed), so the result cache never
answers. Without a pause (0) the status rate is what the server can take.
"""

from __future__ import annotations

import io
import itertools
import os
import random
import time

from locust import FastHttpUser, constant, task
from PIL import Image
from skimage import data
from urllib3 import encode_multipart_formdata

_TOKENS = itertools.cycle(os.environ["LOAD_TOKENS"].split(","))
POLL_SECONDS = float(os.environ.get("LOAD_POLL_SECONDS", "0"))
_PHOTO = Image.fromarray(data.astronaut())
SIDE = 64
FINAL = {"completed", "failed"}


def small_jpeg() -> bytes:
    """A 64x64 JPEG crop of a real photo, never the same bytes twice."""
    x, y = random.randrange(_PHOTO.width - SIDE), random.randrange(_PHOTO.height - SIDE)
    crop = _PHOTO.crop((x, y, x + SIDE, y + SIDE))
    crop.putpixel((0, 0), tuple(random.randrange(256) for _ in range(3)))
    buffer = io.BytesIO()
    crop.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


class Client(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        self.headers = {"Authorization": f"Bearer {next(_TOKENS)}"}

    @task
    def upload_and_poll(self) -> None:
        body, content_type = encode_multipart_formdata(
            {"image": ("photo.jpg", small_jpeg(), "image/jpeg"), "model": "anime-fast", "scale": "2"}
        )
        headers = {**self.headers, "Content-Type": content_type}
        # geventhttpclient sends bytes as they are; locust's annotation names only str and dict.
        with self.client.post("/api/images/upscale", data=body, headers=headers, name="upload",  # type: ignore[arg-type]
                              catch_response=True) as response:  # fmt: skip
            if response.status_code != 202:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return
            image_id = response.json()["data"]["id"]
        while True:
            with self.client.get(f"/api/images/{image_id}/status", headers=self.headers, name="status",
                                 catch_response=True) as response:  # fmt: skip
                if response.status_code != 200:
                    response.failure(f"{response.status_code}: {response.text[:200]}")
                    return
                if response.json()["data"]["status"] in FINAL:
                    return
            if POLL_SECONDS:
                time.sleep(POLL_SECONDS)  # locust makes it gevent's, which lets the other clients run
