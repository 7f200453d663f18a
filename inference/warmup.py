"""Warming a fresh worker process up before its first job: imports, weights, oneDNN's kernels.

A restarted worker's first image otherwise pays for all of it: measured on 2 cores of an
AMD EPYC (``bench/job.py``), a 256x256 ``anime-fast`` job took 1.83 s as a fresh
process's first against 0.24 s warm, most of the difference PyTorch's import (1.2 s), the
rest the weights and the first forward pass's kernel set-up; after :func:`warm_up` the
first job took 0.26 s (docs/benchmarks.md, "Real photo sizes, whole jobs and start-up").
Images from :data:`inference.execution.OPENVINO_MIN_PIXELS` up run an RRDBNet's trunk in
OpenVINO, whose IR is read (or, on a host's first start, converted: 10-20 s) here too.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

from PIL import Image

from inference.catalog import get_spec
from inference.device import default_device
from inference.execution import OPENVINO_MIN_PIXELS, execution_plan
from inference.loading import load_network
from inference.pipeline import upscale_image

#: Side in pixels of the image each model is warmed on: small, so warming costs little.
WARM_UP_SIDE = 64


def warm_up(models: Iterable[str]) -> dict[str, float]:
    """Load each model's networks on the default device and run each once on a small image, and load
    the OpenVINO trunk where a large image would run one.

    Args:
        models: names in :data:`inference.catalog.MODELS`.

    Returns:
        Seconds spent per model name.

    Raises:
        UnknownModel: a name not in the catalogue.
    """
    seconds: dict[str, float] = {}
    device = default_device()
    for name in models:
        spec = get_spec(name)
        started = time.perf_counter()
        image = Image.new("RGB", (WARM_UP_SIDE, WARM_UP_SIDE), (128, 128, 128))
        for scale in spec.scales:
            side = WARM_UP_SIDE * scale
            upscale_image(image, (side, side), model=name)
            if not spec.combines:  # a large image's plan: loads the OpenVINO trunk where one would run
                large = (math.isqrt(OPENVINO_MIN_PIXELS),) * 2
                execution_plan(load_network(name, scale, str(device)), device, overlap=spec.overlap, size=large)
        seconds[name] = time.perf_counter() - started
    return seconds
