"""The ``auto`` model choice: JPEG quality from quantisation tables, illustration vs photo."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw
from skimage import data

from inference.auto import choose_model, estimate_jpeg_quality, illustration_score


def jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf)


def flat_art() -> Image.Image:
    """Cel-shaded shapes with dark outlines, like line art or an anime frame."""
    img = Image.new("RGB", (300, 200), (250, 240, 220))
    draw = ImageDraw.Draw(img)
    draw.ellipse((40, 30, 160, 150), fill=(255, 200, 180), outline=(20, 20, 20), width=3)
    draw.rectangle((170, 60, 280, 180), fill=(90, 140, 220), outline=(20, 20, 20), width=3)
    draw.polygon([(20, 190), (120, 160), (90, 199)], fill=(120, 200, 120), outline=(20, 20, 20))
    return img


@pytest.mark.parametrize("quality", [20, 50, 75, 90, 95, 100])
def test_jpeg_quality_is_recovered_from_the_tables(quality):
    assert estimate_jpeg_quality(jpeg(Image.fromarray(data.chelsea()), quality)) == quality


def test_no_quality_for_lossless_files():
    buf = io.BytesIO()
    Image.fromarray(data.chelsea()).save(buf, "PNG")
    buf.seek(0)
    assert estimate_jpeg_quality(Image.open(buf)) is None


@pytest.mark.parametrize("name", ["chelsea", "astronaut", "coffee", "rocket", "camera", "hubble_deep_field"])
def test_photos_score_low(name):
    assert illustration_score(Image.fromarray(getattr(data, name)())) < 0.3


@pytest.mark.parametrize("quality", [None, 90, 75])
def test_flat_art_scores_high_even_as_jpeg(quality):
    img = flat_art() if quality is None else jpeg(flat_art(), quality)
    assert illustration_score(img) > 0.5  # the threshold is 0.45


@pytest.mark.parametrize(
    ("image", "fmt", "model"),
    [
        (lambda: flat_art(), "PNG", "anime"),
        (lambda: jpeg(flat_art(), 80), "JPEG", "anime"),
        (lambda: jpeg(Image.fromarray(data.chelsea()), 60), "JPEG", "standard"),
        (lambda: jpeg(Image.fromarray(data.chelsea()), 97), "JPEG", "precise"),
        (lambda: Image.fromarray(data.astronaut()), "PNG", "precise"),
    ],
)
def test_choose_model(image, fmt, model):
    choice = choose_model(image(), fmt)
    assert choice.model == model, choice
    assert choice.reason
