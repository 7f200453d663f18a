"""The CUDA path on a real GPU: each model in float16 against the CPU's float32 (PSNR on Y), batched
windows, one GPU per worker process. Skipped where PyTorch sees no GPU (CI has none); run on a GPU host with
``python -m pytest inference/tests/test_cuda.py``. The rest of the suite fakes CUDA (test_fast_path.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from inference import gpus
from inference.catalog import MODELS
from inference.device import default_device
from inference.execution import CUDA_MAX_BATCH, execution_plan
from inference.loading import load_network
from inference.metrics import psnr_y
from inference.pipeline import upscale_image
from inference.tiling import upscale_tiled

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")

CUDA = torch.device("cuda")
#: Networks, not the combinations of them (portrait is tested on its own below).
NETWORKS = [name for name, spec in MODELS.items() if not spec.combines]


def photo(size: tuple[int, int], box: tuple[int, int, int, int] = (140, 60, 300, 200)) -> Image.Image:
    """A crop of skimage's astronaut (a real photo, the face and its surroundings) resized to ``size``."""
    return Image.fromarray(data.astronaut()).crop(box).resize(size, Image.Resampling.LANCZOS)


def test_the_default_device_is_the_gpu_and_a_host_runs_a_worker_per_gpu(monkeypatch):
    # Counted from the driver's /proc entries, without PyTorch, as the settings do it in every process.
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)

    assert gpus.visible_gpus() == torch.cuda.device_count()
    assert gpus.worker_processes() == torch.cuda.device_count()
    assert default_device().type == "cuda"


@pytest.mark.parametrize("model", NETWORKS)
def test_each_model_in_float16_on_the_gpu_matches_float32_on_the_cpu(model):
    spec = MODELS[model]
    scale = max(spec.scales)
    image = photo((72, 56))  # not a multiple of any window: edge tiles are padded
    size = (72 * scale, 56 * scale)

    on_gpu = upscale_image(image, size, model=model, device=CUDA)
    on_cpu = upscale_image(image, size, model=model, device=torch.device("cpu"), precision="fp32")

    assert on_gpu.device == "cuda"
    assert on_gpu.image.size == size
    assert psnr_y(np.asarray(on_gpu.image), np.asarray(on_cpu.image), crop=0) > 40


def test_the_gpu_plan_is_float16_in_batches_of_uniform_windows():
    plan = execution_plan(load_network("anime-fast", 4, "cuda"), CUDA)

    assert plan.dtype == torch.float16
    assert plan.uniform
    assert 1 < plan.batch <= CUDA_MAX_BATCH  # any GPU of today holds several 448 px windows


def test_batched_windows_give_what_one_window_at_a_time_gives():
    network = load_network("anime-fast", 4, "cuda")
    image = np.asarray(photo((150, 110)), dtype=np.float32) / 255.0

    def run(batch: int) -> np.ndarray:
        with torch.inference_mode():
            return upscale_tiled(network, image, 4, tile=48, overlap=8, device=CUDA, uniform=True, batch=batch,
                                 compute_dtype=torch.float16, out_dtype=np.dtype(np.uint8))  # fmt: skip

    assert psnr_y(run(6), run(1), crop=0) > 50


def test_portrait_on_the_gpu():
    image = Image.fromarray(data.astronaut()).resize((192, 192), Image.Resampling.LANCZOS)

    on_gpu = upscale_image(image, (768, 768), model="portrait", device=CUDA)
    on_cpu = upscale_image(image, (768, 768), model="portrait", device=torch.device("cpu"), precision="fp32")

    assert psnr_y(np.asarray(on_gpu.image), np.asarray(on_cpu.image), crop=0) > 40
