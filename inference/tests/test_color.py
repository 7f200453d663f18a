"""``tune_colors``: :func:`inference.color.match_colors` gives a result its input's low-frequency colour.

Measured as the mean colour error of the result, reduced to the input's size, against the input.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from skimage import data

from inference.color import match_colors
from inference.imageio import open_image
from inference.pipeline import upscale_image, upscale_source

#: Colour is compared over regions this many input pixels wide: detail is the network's to change.
REGION = 8


def colour_error(result: np.ndarray, source: np.ndarray) -> float:
    """Mean absolute difference, per 8-bit sample, between the average colours of the result's and the
    source's regions (:data:`REGION` input pixels square)."""
    size = (source.shape[1] // REGION, source.shape[0] // REGION)

    def regions(image: np.ndarray) -> np.ndarray:
        pixels = Image.fromarray(np.clip(np.rint(image), 0, 255).astype(np.uint8))
        return np.asarray(pixels.resize(size, Image.Resampling.BOX), dtype=np.float32)

    return float(np.abs(regions(result) - regions(source)).mean())


def high_frequencies(image: np.ndarray) -> float:
    """How much detail an image has: the mean absolute difference between neighbouring pixels."""
    return float(np.abs(np.diff(image.astype(np.float32), axis=1)).mean())


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.asarray(Image.fromarray(data.astronaut()).resize((96, 96), Image.Resampling.LANCZOS))


def test_a_colour_shift_is_undone_and_the_detail_kept(astronaut):
    detailed = np.asarray(Image.fromarray(astronaut).resize((384, 384), Image.Resampling.LANCZOS), dtype=np.float32)
    shifted = np.clip(detailed * [1.0, 1.12, 0.85] + [6, 0, -6], 0, 255)  # what a GAN's tint looks like, exaggerated
    tuned = match_colors(shifted, astronaut)

    assert colour_error(shifted, astronaut) > 10
    assert colour_error(tuned, astronaut) < colour_error(detailed, astronaut) + 1.5
    assert high_frequencies(tuned) == pytest.approx(high_frequencies(shifted), rel=0.05)
    assert tuned.dtype == np.float32 and tuned.min() >= 0 and tuned.max() <= 255


def test_16_bit_samples_keep_their_range(astronaut):
    source = astronaut.astype(np.float32) * 257
    result = np.asarray(Image.fromarray(astronaut).resize((192, 192)), dtype=np.float32) * 257 * 0.9
    tuned = match_colors(result, source, peak=65535)
    assert tuned.max() <= 65535 and colour_error(tuned / 257, astronaut) < colour_error(result / 257, astronaut)


def test_the_real_model_with_tune_colors_stays_closer_to_the_input(astronaut):
    plain = upscale_image(Image.fromarray(astronaut), (384, 384), model="anime-fast")
    tuned = upscale_image(Image.fromarray(astronaut), (384, 384), model="anime-fast", tune_colors=True)
    before = colour_error(np.asarray(plain.image), astronaut)
    after = colour_error(np.asarray(tuned.image), astronaut)
    assert after < before / 2 and after < 1.5, (before, after)


def test_a_source_at_its_own_size_runs_no_network_and_keeps_its_pixels(astronaut):
    buf = io.BytesIO()
    Image.fromarray(astronaut).save(buf, "PNG")
    source = open_image(io.BytesIO(buf.getvalue()), max_pixels=10**6)
    out = io.BytesIO()
    result, fmt = upscale_source(source, source.size, out, model="standard", fmt="WEBP", quality=90)
    assert (fmt, result.scale_chain, result.size) == ("WEBP", [], (96, 96))
    written = Image.open(out)
    assert written.format == "WEBP" and written.size == (96, 96)
