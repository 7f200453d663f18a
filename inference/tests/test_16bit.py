"""16-bit RGB(A) PNG and TIFF keep 16 bits through the whole pipeline (Pillow alone reads them as 8)."""

from __future__ import annotations

import io

import imagecodecs
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms
from skimage import data

from inference.imageio import encode, open_image
from inference.pipeline import upscale_image

LIMIT = 64_000_000


def photo16(alpha: bool = False) -> np.ndarray:
    """A 16x12 crop of a real photo widened to 16 bits with detail in the low byte."""
    rgb = data.astronaut()[200:212, 200:216].astype(np.uint16) * 257
    rgb += np.arange(rgb.size, dtype=np.uint16).reshape(rgb.shape) % 97  # not multiples of 257
    if alpha:
        a = np.linspace(0, 65535, 16 * 12).astype(np.uint16).reshape(12, 16, 1)
        rgb = np.concatenate([rgb, a], axis=2)
    return rgb


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def uses_16_bits(samples: np.ndarray) -> bool:
    return samples.dtype == np.uint16 and bool(np.any(samples % 257))


@pytest.mark.parametrize("alpha", [False, True])
def test_png16_in_png16_out(alpha):
    source_samples = photo16(alpha)
    icc = srgb_icc()
    from inference.imageio import _png_with_icc

    png = _png_with_icc(imagecodecs.png_encode(source_samples), icc)
    source = open_image(io.BytesIO(png), max_pixels=LIMIT)
    assert source.pixels16 is not None and np.array_equal(source.pixels16, source_samples)

    result = upscale_image(source.pixels, (32, 24), model="anime-fast")
    buf = io.BytesIO()
    assert encode(result.image, source, buf) == "PNG"

    out = imagecodecs.png_decode(buf.getvalue())
    assert out.shape == (24, 32, 4 if alpha else 3)
    assert uses_16_bits(out)
    assert Image.open(io.BytesIO(buf.getvalue())).info["icc_profile"] == icc
    if alpha:
        assert out[0, :, 3].mean() < out[-1, :, 3].mean()  # the alpha gradient survived


def test_tiff16_keeps_16_bits_and_its_orientation():
    samples = photo16()
    buf = io.BytesIO()
    tifffile.imwrite(buf, samples, photometric="rgb", extratags=[(274, "H", 1, 6, True)])  # rotate 90 CW
    source = open_image(io.BytesIO(buf.getvalue()), max_pixels=LIMIT)
    # Rotated 90 degrees clockwise, exactly like the 8-bit image Pillow shows.
    assert source.pixels16.shape == (16, 12, 3)
    assert np.array_equal(source.pixels16, np.rot90(samples, -1))
    assert np.array_equal(source.pixels16 >> 8, np.asarray(source.image.convert("RGB")))

    result = upscale_image(source.pixels, (24, 32), model="anime-fast")
    out_buf = io.BytesIO()
    assert encode(result.image, source, out_buf) == "TIFF"
    out = tifffile.imread(io.BytesIO(out_buf.getvalue()))
    assert out.shape == (32, 24, 3) and uses_16_bits(out)


def test_8bit_png_stays_on_the_pillow_path():
    buf = io.BytesIO()
    Image.fromarray(data.astronaut()[:12, :16]).save(buf, "PNG")
    assert open_image(io.BytesIO(buf.getvalue()), max_pixels=LIMIT).pixels16 is None
