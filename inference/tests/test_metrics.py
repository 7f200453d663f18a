"""PSNR/SSIM on Y and MATLAB-style bicubic downscaling, as the SR literature uses them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from inference.metrics import imresize_bicubic_down, psnr_y, rgb_to_y, ssim_y


def solid(value: tuple[int, int, int], shape: tuple[int, int] = (16, 16)) -> np.ndarray:
    return np.broadcast_to(np.array(value, dtype=np.uint8), (*shape, 3)).copy()


def noisy(seed: int = 0, shape: tuple[int, int] = (48, 40)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


# --- rgb_to_y -----------------------------------------------------------------------


def test_y_of_white_is_235_and_black_is_16():
    assert np.allclose(rgb_to_y(solid((255, 255, 255))), 235.0)
    assert np.allclose(rgb_to_y(solid((0, 0, 0))), 16.0)


def test_y_is_bt601_luma_in_float64():
    y = rgb_to_y(np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8))
    assert y.dtype == np.float64 and y.shape == (1, 3)
    assert np.allclose(y, [[16 + 65.481, 16 + 128.553, 16 + 24.966]])


def test_y_rejects_other_arrays():
    with pytest.raises(ValueError):
        rgb_to_y(np.zeros((4, 4, 3), dtype=np.float32))
    with pytest.raises(ValueError):
        rgb_to_y(np.zeros((4, 4), dtype=np.uint8))


# --- psnr_y ---------------------------------------------------------------------------


def test_psnr_of_identical_images_is_inf():
    img = noisy()
    assert psnr_y(img, img.copy(), 0) == math.inf
    assert psnr_y(img, img.copy(), 4) == math.inf


def test_psnr_known_value():
    """Red differs by 10 everywhere: Y differs by 10 * 65.481 / 255, so PSNR = 20 log10(255 / that)."""
    hr = solid((100, 100, 100))
    sr = solid((110, 100, 100))
    expected = 20 * math.log10(255 / (10 * 65.481 / 255))
    assert psnr_y(sr, hr, 0) == pytest.approx(expected, abs=1e-9)
    assert expected == pytest.approx(39.94, abs=0.01)


def test_psnr_is_symmetric_and_finite_on_noise():
    a, b = noisy(1), noisy(2)
    value = psnr_y(a, b, 2)
    assert math.isfinite(value) and 0 < value < 20
    assert value == pytest.approx(psnr_y(b, a, 2))


def test_psnr_rejects_mismatched_shapes_and_oversized_crops():
    with pytest.raises(ValueError):
        psnr_y(noisy(shape=(8, 8)), noisy(shape=(8, 9)), 0)
    with pytest.raises(ValueError):
        psnr_y(noisy(shape=(8, 8)), noisy(shape=(8, 8)), 4)


def test_psnr_in_a_mask_measures_only_its_pixels():
    a, b = solid((100, 100, 100)), solid((100, 100, 100))
    b[:, 8:] = 110  # the right half differs
    left = np.zeros((16, 16), dtype=bool)
    left[:, :8] = True
    assert psnr_y(a, b, 2, left) == math.inf
    assert psnr_y(a, b, 2, ~left) < psnr_y(a, b, 2) < math.inf
    with pytest.raises(ValueError):
        psnr_y(a, b, 2, left[:8])
    with pytest.raises(ValueError):
        psnr_y(a, b, 8, left)  # nothing left once the border is cropped


# --- ssim_y ---------------------------------------------------------------------------


def test_ssim_of_identical_images_is_1():
    img = noisy()
    assert ssim_y(img, img.copy(), 0) == pytest.approx(1.0)


def test_ssim_drops_with_noise():
    rng = np.random.default_rng(3)
    ramp = np.linspace(0, 255, 64)
    hr = np.repeat(np.add.outer(ramp, ramp)[:, :, None] / 2, 3, axis=2).astype(np.uint8)
    slight = np.clip(hr + rng.normal(0, 3, hr.shape), 0, 255).astype(np.uint8)
    heavy = np.clip(hr + rng.normal(0, 30, hr.shape), 0, 255).astype(np.uint8)
    assert 1.0 > ssim_y(slight, hr, 2) > ssim_y(heavy, hr, 2) > 0.0


# --- border crop ----------------------------------------------------------------------


@pytest.mark.parametrize("metric", [psnr_y, ssim_y])
def test_the_border_is_cropped(metric):
    """Images that differ only in a 3-pixel frame are identical once 3 pixels are cropped."""
    hr = noisy(shape=(40, 40))
    sr = hr.copy()
    sr[:3] = 255 - sr[:3]
    sr[:, -3:] = 255 - sr[:, -3:]
    identical = math.inf if metric is psnr_y else pytest.approx(1.0)
    assert metric(sr, hr, 3) == identical
    assert metric(sr, hr, 2) != identical
    assert metric(sr, hr, 0) != identical


# --- imresize_bicubic_down ------------------------------------------------------------


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_downscale_of_a_constant_image_is_constant(scale):
    img = solid((200, 17, 90), shape=(24, 36))
    out = imresize_bicubic_down(img, scale)
    assert out.dtype == np.uint8
    assert out.shape == (24 // scale, 36 // scale, 3)
    assert (out == np.array([200, 17, 90], dtype=np.uint8)).all()


@pytest.mark.parametrize(("shape", "scale"), [((25, 31, 3), 4), ((10, 7), 3), ((9, 9, 3), 2)])
def test_downscale_shape_is_floor_of_size_over_scale(shape, scale):
    img = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    assert imresize_bicubic_down(img, scale).shape == (shape[0] // scale, shape[1] // scale, *shape[2:])


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_downscale_samples_a_ramp_at_pixel_centres(scale):
    """The cubic kernel reproduces linear functions: away from the mirrored borders, output
    pixel o of a ramp is the ramp at the centre of its input block, o * scale + (scale - 1) / 2."""
    step = 2
    columns = step * np.arange(64, dtype=np.float64)
    img = np.repeat(np.broadcast_to(columns, (16, 64))[:, :, None], 3, axis=2).astype(np.uint8)
    out = imresize_bicubic_down(img, scale)[0, :, 0].astype(np.float64)
    centres = step * (np.arange(64 // scale) * scale + (scale - 1) / 2)
    interior = slice(3, -3)
    assert np.abs(out[interior] - np.rint(centres[interior])).max() <= 0.5 + 1e-9
    # Mirroring at the border pulls the first sample towards the edge value, not below 0.
    assert 0 <= out[0] <= centres[0] + step


def test_downscale_antialiases_a_fine_pattern():
    """A 1-pixel checkerboard has no energy below the new Nyquist frequency: antialiased
    downscaling makes it flat grey (point sampling would keep only the black or white pixels)."""
    board = (np.indices((32, 32)).sum(axis=0) % 2 * 255).astype(np.uint8)
    out = imresize_bicubic_down(board, 4).astype(int)
    assert np.abs(out[1:-1, 1:-1] - 128).max() <= 1


def test_downscale_is_close_to_pillow_bicubic_inside():
    """Pillow's BICUBIC is the same a = -0.5 antialiased kernel; inside the image it differs by
    rounding (its fixed-point arithmetic rounds to uint8 between the passes), at the borders
    by its renormalisation."""
    rng = np.random.default_rng(5)
    smooth = np.asarray(Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).resize((96, 96)))
    ours = imresize_bicubic_down(smooth, 4).astype(int)
    pillow = np.asarray(Image.fromarray(smooth).resize((24, 24), Image.Resampling.BICUBIC)).astype(int)
    inside = np.abs(ours - pillow)[2:-2, 2:-2]
    assert inside.max() <= 2
    assert inside.mean() < 0.25


def test_downscale_rejects_bad_input():
    with pytest.raises(ValueError):
        imresize_bicubic_down(np.zeros((8, 8, 3), dtype=np.float32), 2)
    with pytest.raises(ValueError):
        imresize_bicubic_down(np.zeros((8, 8, 3), dtype=np.uint8), 0)
    with pytest.raises(ValueError):
        imresize_bicubic_down(np.zeros((3, 8, 3), dtype=np.uint8), 4)
