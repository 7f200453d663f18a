"""Tests for the fast inference paths: bfloat16 autocast, channels_last, balanced and
uniform tile grids, batched tiles, and the device/precision chooser (CUDA faked, never run).

The real network runs on small crops of real photos on the CPU; speed is measured by
``bench/speed.py``, not here.
"""

from __future__ import annotations

import numpy as np
import pytest
import spandrel
import torch
from PIL import Image
from skimage import data

from inference import execution
from inference.device import compute_dtype, cpu_supports_bf16, default_device, resolve_precision
from inference.execution import CUDA_MAX_BATCH, StripedUpsampler, execution_plan
from inference.loading import load_network, state_dict
from inference.pipeline import upscale_image
from inference.tests.standins import smooth_net
from inference.tiling import _axis_windows, _to_output, balanced_tile, tile_grid, to_output_dtype, upscale_tiled
from upscaler_site.testing import psnr

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def standard() -> spandrel.ImageModelDescriptor:
    return load_network("standard", 4, "cpu")


def photo_crop(box: tuple[int, int, int, int]) -> np.ndarray:
    """A crop of skimage's astronaut (a real photo) as (H, W, 3) float32 in [0, 1]."""
    return np.asarray(Image.fromarray(data.astronaut()).crop(box), dtype=np.float32) / 255.0


# --- tile grids ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("height", "width", "tile", "overlap"),
    [(48, 64, 32, 16), (7, 5, 3, 2), (10, 10, 10, 0), (1, 1, 5, 5), (33, 27, 8, 3), (30, 40, (64, 7), 8)],
)
def test_uniform_grid_has_one_window_size_inside_the_image(height, width, tile, overlap):
    tiles = list(tile_grid(height, width, tile, overlap, uniform=True))
    clamped = list(tile_grid(height, width, tile, overlap))
    covered = np.zeros((height, width), dtype=int)

    assert len({t.window for t in tiles}) == 1
    for t, c in zip(tiles, clamped, strict=True):
        covered[t.y0 : t.y1, t.x0 : t.x1] += 1
        assert (t.y0, t.y1, t.x0, t.x1) == (c.y0, c.y1, c.x0, c.x1)
        assert 0 <= t.py0 <= c.py0 and c.py1 <= t.py1 <= height  # at least the clamped context
        assert 0 <= t.px0 <= c.px0 and c.px1 <= t.px1 <= width
    assert (covered == 1).all()


@pytest.mark.parametrize(
    ("height", "width", "overlap", "max_window"),
    [
        (1024, 1024, 32, 544 * 544),
        (1000, 1000, 32, 400 * 400),
        (2000, 300, 32, 450 * 450),
        (256, 256, 32, 10**6),
        (37, 27, 4, 20 * 20),
        (7, 5, 2, 26),
        (5000, 3, 32, 1000),
    ],
)
@pytest.mark.parametrize("uniform", [False, True])
def test_balanced_tile_fits_the_budget_and_runs_the_fewest_pixels(height, width, overlap, max_window, uniform):
    def windows(tile):  # (largest window, total window area), axis by axis
        sides = (tile, tile) if isinstance(tile, int) else tile
        spans = [
            [hi - lo for *_, lo, hi in _axis_windows(size, side, overlap, uniform)]
            for size, side in zip((height, width), sides, strict=True)
        ]
        return max(spans[0]) * max(spans[1]), sum(spans[0]) * sum(spans[1])

    tile = balanced_tile(height, width, overlap, max_window, uniform=uniform)

    largest, total = windows(tile)
    assert largest <= max_window
    assert (
        max((t.py1 - t.py0) * (t.px1 - t.px0) for t in tile_grid(height, width, tile, overlap, uniform=uniform))
        == largest
    )
    # No square tile that fits runs fewer pixels through the network.
    fitting = [windows(s) for s in range(1, max(height, width) + 1)]
    assert total <= min(t for m, t in fitting if m <= max_window)
    # Balanced: the last tile on an axis is at most (tiles - 1) px smaller than the others.
    for side, size in zip(tile, (height, width), strict=True):
        count = -(-size // side)
        assert size - (count - 1) * side >= side - count


def test_balanced_tile_examples():
    assert balanced_tile(256, 256, 32, 550 * 550) == (256, 256)  # one window, no context at all
    assert balanced_tile(1024, 1024, 32, 544 * 544) == (512, 512)  # 2x2, one-sided context
    assert balanced_tile(1000, 1000, 32, 400 * 400) == (334, 334)  # 3x3 balanced, not 336+336+328


# --- batching ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("uniform", [False, True])
def test_batched_tiles_equal_single_tiles(uniform):
    image = photo_crop((200, 180, 237, 207))  # 27x37
    forward = smooth_net(2)
    calls: list[tuple[int, ...]] = []

    def recording(x: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(x.shape))
        return forward(x)

    single = upscale_tiled(forward, image, 2, tile=8, overlap=3, device=CPU, uniform=uniform)
    progress: list[tuple[int, int]] = []
    batched = upscale_tiled(
        recording,
        image,
        2,
        tile=8,
        overlap=3,
        device=CPU,
        uniform=uniform,
        batch=3,
        progress=lambda *a: progress.append(a),
    )

    np.testing.assert_allclose(batched, single, rtol=0, atol=1e-6)
    assert max(shape[0] for shape in calls) == 3
    assert sum(shape[0] for shape in calls) == 20  # 4 rows x 5 columns
    assert progress[-1] == (20, 20) and [d for d, _ in progress] == sorted(d for d, _ in progress)
    if uniform:
        assert len(calls) == 7  # ceil(20 / 3): every window has the same size
    # With enough context (2 px needed) every tiling equals whole-image inference.
    whole = upscale_tiled(forward, image, 2, tile=100, overlap=0, device=CPU)
    np.testing.assert_allclose(batched, whole, rtol=0, atol=1e-6)


def test_batched_tiles_equal_single_tiles_with_the_real_model(standard):
    image = photo_crop((200, 180, 224, 200))  # 20x24: 3x3 tiles of 8 px with 4 px of context
    options = {"tile": 8, "overlap": 4, "device": CPU, "uniform": True, "channels_last": True}
    with torch.inference_mode():
        single = upscale_tiled(standard, image, 4, **options)
        batched = upscale_tiled(standard, image, 4, batch=3, **options)
    np.testing.assert_allclose(batched, single, rtol=0, atol=1e-5)


def test_a_batch_that_runs_out_of_memory_on_cuda_is_split(monkeypatch):
    """The OOM fallback, with a fake CUDA device: the 'GPU' takes at most 2 tiles at once."""
    image = photo_crop((200, 180, 216, 204))
    forward = smooth_net(2)
    seen: list[int] = []

    def picky(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.shape[0])
        if x.shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (fake)")
        return forward(x)

    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    monkeypatch.setattr(torch.Tensor, "to", lambda self, *a, **k: self)  # stay on the CPU
    fake_cuda = torch.device("cuda")
    out = upscale_tiled(picky, image, 2, tile=8, overlap=2, device=fake_cuda, uniform=True, batch=6)
    monkeypatch.undo()

    expected = upscale_tiled(forward, image, 2, tile=8, overlap=2, device=CPU, uniform=True)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)
    assert seen[:2] == [6, 3]  # 2x3 tiles: all six, then half of them, then ...
    assert max(seen[2:]) <= 2 and sum(seen[2:]) == 6  # ... the smaller batch size for every tile left


# --- the striped upsampler ------------------------------------------------------------------------------


def test_striped_upsampler_equals_the_network(standard):
    striped = StripedUpsampler(standard, strip_pixels=60)  # 3 rows per strip of a 20-px-wide input
    assert striped.halo == 2  # x4plus tail: 3 convs at 4x + 1 at 2x need 2 rows of trunk features
    x = torch.from_numpy(photo_crop((200, 180, 220, 211)).transpose(2, 0, 1).copy())[None]
    x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        np.testing.assert_allclose(striped(x), standard(x), rtol=0, atol=1e-6)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert torch.equal(striped(x).float(), standard(x).float())
        assert striped(x[:, :, :1, :5]).shape == (1, 3, 4, 20)  # below the minimum size: padded by spandrel


def test_striped_upsampler_applies_to_the_rrdbnets_only(standard):
    assert StripedUpsampler.supports(standard)
    assert StripedUpsampler.supports(load_network("anime", 4, "cpu"))
    assert not StripedUpsampler.supports(load_network("anime-fast", 4, "cpu"))
    assert not StripedUpsampler.supports(smooth_net(2))
    plan = execution_plan(standard, CPU)
    assert isinstance(plan.forward, StripedUpsampler)
    # A whole 1024 x 1024 image in one window where the CPU runs bfloat16; 640 x 640 in float32, on a
    # CPU without AVX512-BF16 or AMX.
    assert plan.max_window >= (1024 * 1024 if plan.dtype == torch.bfloat16 else 640 * 640)


# --- output conversion ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_torch_output_conversion_is_bit_identical_to_numpy(dtype):
    values = np.random.default_rng(0).uniform(-0.1, 1.1, (37, 23, 3)).astype(np.float32)
    values[0, :, 0] = np.arange(23, dtype=np.float32) / 255 + 0.5 / 255  # exact halves round to even
    expected = to_output_dtype(values, np.dtype(dtype))
    got = _to_output(torch.from_numpy(values), np.dtype(dtype))
    assert got.dtype == dtype
    assert np.array_equal(got, expected)


# --- precision and layout on the real model ---------------------------------------------------------------


def test_channels_last_does_not_change_float32_output(standard):
    plain = spandrel.ModelLoader().load_from_state_dict(state_dict("standard", 4)).eval()
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in standard.model.parameters() if p.ndim == 4)
    x = torch.from_numpy(photo_crop((200, 180, 224, 200)).transpose(2, 0, 1).copy())[None]
    with torch.inference_mode():
        reference = plain(x)
        nhwc = standard(x.contiguous(memory_format=torch.channels_last))
        nchw = standard(x)
    assert (reference - nhwc).abs().max() <= 1e-5
    assert (reference - nchw).abs().max() <= 1e-5


@pytest.mark.skipif(not cpu_supports_bf16(), reason="no native bfloat16 on this CPU")
@pytest.mark.parametrize("box", [(176, 60, 368, 252), (40, 300, 232, 492)], ids=["face", "flag"])
def test_bf16_is_within_0_05_db_of_fp32_against_ground_truth(standard, box):
    """Ground truth: a 192x192 crop of a real photo; input: its 4x bicubic downscale (48x48)."""
    truth = Image.fromarray(data.astronaut()).crop(box)
    small = truth.resize((48, 48), Image.Resampling.BICUBIC)

    fp32 = np.asarray(upscale_image(small, truth.size, precision="fp32").image)
    bf16 = np.asarray(upscale_image(small, truth.size, precision="bf16").image)

    gap = psnr(bf16, np.asarray(truth)) - psnr(fp32, np.asarray(truth))
    print(
        f"PSNR vs truth: fp32 {psnr(fp32, np.asarray(truth)):.3f}, bf16 gap {gap:+.4f} dB; "
        f"bf16 vs fp32 {psnr(bf16, fp32):.2f} dB"
    )
    assert abs(gap) < 0.05
    assert psnr(bf16, fp32) > 45


def test_precision_fp32_and_the_environment(standard, monkeypatch):
    small = Image.fromarray((photo_crop((200, 180, 216, 196)) * 255).round().astype(np.uint8))
    fp32 = np.asarray(upscale_image(small, (64, 64), precision="fp32").image)
    monkeypatch.setenv("UPSCALER_PRECISION", "fp32")
    from_env = np.asarray(upscale_image(small, (64, 64)).image)
    assert np.array_equal(fp32, from_env)
    with pytest.raises(ValueError, match="precision"):
        upscale_image(small, (64, 64), precision="int8")


# --- device, dtype and batching choice --------------------------------------------------------------------


CUDA_CALLS = (
    "mem_get_info",
    "is_bf16_supported",
    "get_device_properties",
    "current_device",
    "synchronize",
    "empty_cache",
    "device_count",
    "set_device",
    "_lazy_init",
    "init",
)


def test_cpu_only_never_touches_cuda(monkeypatch, standard):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name in CUDA_CALLS:
        monkeypatch.setattr(torch.cuda, name, lambda *a, _name=name, **k: pytest.fail(f"torch.cuda.{_name} called"))

    device = default_device()
    plan = execution_plan(standard, device)
    result = upscale_image(Image.fromarray(data.astronaut()[200:220, 180:204]), (96, 80))

    assert device == CPU and result.device == "cpu"
    assert plan.dtype == (torch.bfloat16 if cpu_supports_bf16() else torch.float32)
    assert (plan.batch, plan.uniform, plan.channels_last) == (1, False, True)
    assert plan.max_window is not None and plan.max_window >= 448 * 448  # larger than the fp32 default tile
    assert execution_plan(standard, device, "fp32").dtype == torch.float32


def test_the_chooser_with_a_fake_gpu(monkeypatch, standard):
    free = 40 * 2**30
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free, 80 * 2**30))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)

    device = default_device()
    plan = execution_plan(standard, device, tile=768, overlap=32)

    assert device.type == "cuda"
    assert plan.dtype == torch.float16 and plan.uniform and plan.channels_last
    assert plan.max_window == 832 * 832
    assert 1 < plan.batch <= CUDA_MAX_BATCH
    assert plan.batch * 832 * 832 * execution._STRIPED_ACTIVATION_BYTES[2] <= execution.CUDA_MEMORY_SHARE * free
    assert execution_plan(standard, device, "fp32").dtype == torch.float32

    # A network that does not tolerate float16 (DAT) gets bfloat16 where the GPU has it, else float32.
    class NoHalf:
        supports_half = False
        supports_bfloat16 = True

    assert execution_plan(NoHalf(), device).dtype == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert execution_plan(NoHalf(), device).dtype == torch.float32
    # Little free memory: one tile at a time.
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (2**30, 80 * 2**30))
    assert execution_plan(standard, device, tile=768).batch == 1


def test_precision_names(monkeypatch):
    assert resolve_precision(None) == "auto"
    assert resolve_precision("BF16") == "bf16"
    monkeypatch.setenv("UPSCALER_PRECISION", "fp16")
    assert resolve_precision(None) == "fp16"
    assert resolve_precision("fp32") == "fp32"  # the argument wins
    assert compute_dtype(CPU) == torch.float16
    with pytest.raises(ValueError):
        resolve_precision("half")
    monkeypatch.setenv("UPSCALER_DEVICE", "cpu")
    assert default_device() == CPU
