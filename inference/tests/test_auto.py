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


# --- portrait: photos going to standard whose faces cover a meaningful share ---------------------------------


def portrait_crop() -> Image.Image:
    """A 256x256 head-and-shoulders crop of the astronaut: her face is 16% of it."""
    return Image.fromarray(data.astronaut()).crop((100, 0, 356, 256))


def faces_of(boxes, calls=None):
    """A ``faces`` callable returning faces at ``boxes``, recording that it was called."""
    from inference.faces import Face

    def find():
        if calls is not None:
            calls.append(1)
        return [Face(box, 0.99) for box in boxes]

    return find


def test_a_damaged_portrait_goes_to_portrait_with_the_reason():
    from inference.faces import detect_faces

    img = jpeg(portrait_crop(), 80)
    choice = choose_model(img, "JPEG", faces=lambda: detect_faces(img))
    assert choice.model == "portrait", choice
    assert choice.reason == "portrait: 1 face, 16% of the image; JPEG quality about 80"
    assert (choice.faces, round(choice.face_share, 2)) == (1, 0.16)


@pytest.mark.parametrize("name", ["coffee", "chelsea", "rocket", "camera"])
def test_damaged_photos_without_a_meaningful_face_stay_standard(name):
    """The cameraman's face is found but covers 1.5% of the picture: a detail of it."""
    from inference.faces import detect_faces

    img = jpeg(Image.fromarray(getattr(data, name)()), 80)
    choice = choose_model(img, "JPEG", faces=lambda: detect_faces(img))
    assert (choice.model, choice.reason) == ("standard", "photo, JPEG quality about 80")


@pytest.mark.parametrize(
    ("boxes", "model"),
    [([], "standard"), ([(0, 0, 15, 15)], "standard"), ([(0, 0, 16, 16)], "portrait"),
     ([(0, 0, 10, 10), (50, 50, 63, 63)], "portrait")],
)  # fmt: skip
def test_the_face_share_threshold(boxes, model):
    """2.5% of a 100x100 image: 250 pixels; two faces add up."""
    choice = choose_model(jpeg(Image.fromarray(data.coffee()).resize((100, 100)), 60), "JPEG", faces=faces_of(boxes))
    assert choice.model == model
    if len(boxes) == 2:
        assert choice.reason.startswith("portrait: 2 faces, 3% of the image")


def test_gif_portraits_go_to_portrait_too():
    img = portrait_crop().convert("P")
    choice = choose_model(img, "GIF", faces=faces_of([(80, 60, 170, 170)]))
    assert (choice.model, choice.reason) == ("portrait", "portrait: 1 face, 15% of the image; 256-colour GIF")


@pytest.mark.parametrize(("image", "fmt"), [(lambda: portrait_crop(), "PNG"), (lambda: flat_art(), "PNG")])
def test_faces_are_not_looked_for_in_clean_photos_or_illustrations(image, fmt):
    """A clean photo stays with precise, which is already faithful to faces (and everywhere else)."""
    calls: list[int] = []
    choice = choose_model(image(), fmt, faces=faces_of([(0, 0, 300, 300)], calls))
    assert choice.model in ("precise", "anime") and calls == []
