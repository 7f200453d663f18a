"""The ``portrait`` model (:mod:`inference.portrait`, ``inference.pipeline._upscale_portrait``).

The geometry and the blend are checked exactly with stand-in networks that differ
(``standard`` = nearest neighbour, ``precise`` = its negative), so every output pixel
says which model it came from; then the real networks on a 64x64 portrait.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from skimage import data

from inference import pipeline
from inference.catalog import get_spec
from inference.faces import Face, detect_faces
from inference.metrics import imresize_bicubic_down, psnr_y
from inference.pipeline import upscale_image
from inference.portrait import CONTEXT, Region, blend, blend_weights, plan_regions
from inference.tests.standins import nearest

CPU = torch.device("cpu")
FACE = Face((40.0, 30.0, 70.0, 70.0), 0.99)


# --- geometry ----------------------------------------------------------------------------------------------


def test_a_region_holds_the_face_its_feather_and_precises_context():
    (region,) = plan_regions([Face((80.0, 60.0, 110.0, 100.0), 0.99)], (300, 250), (1200, 1000))
    # The core (the box grown by 10% of its 40 px side), a 10 px feather (25%), then the context.
    assert region.cores == ((76.0, 56.0, 114.0, 104.0),) and region.feathers == (10.0,)
    reach = 10 + CONTEXT
    assert region.box == (76 - reach, 56 - reach, 114 + reach, 104 + reach)
    assert region.out_box == tuple(4 * edge for edge in region.box)
    (clipped,) = plan_regions([FACE], (200, 150), (800, 600))
    assert clipped.box[:2] == (0, 0)  # at the image's edge the crop's edge is the image's


def test_overlapping_regions_merge_into_one_crop():
    faces = [FACE, Face((80.0, 30.0, 110.0, 70.0), 0.99), Face((300.0, 220.0, 320.0, 240.0), 0.99)]
    regions = plan_regions(faces, (400, 300), (800, 600))
    assert sorted(len(r.cores) for r in regions) == [1, 2]
    assert plan_regions([], (400, 300), (800, 600)) == []


def test_region_edges_land_on_whole_output_pixels_at_fractional_scales():
    (region,) = plan_regions([FACE], (200, 150), (500, 375))  # x2.5
    assert all(edge * 2.5 == out for edge, out in zip(region.box, region.out_box, strict=True))


def test_weights_are_one_in_the_core_and_zero_in_the_context():
    region = Region((0, 0, 100, 100), (0, 0, 200, 200), ((40.0, 40.0, 60.0, 60.0),), (10.0,))
    weights = blend_weights(region, (100, 100), (200, 200))
    assert weights.shape == (200, 200) and weights.dtype == np.float32
    assert (weights[80:120, 80:120] == 1.0).all()
    assert (weights[:58] == 0.0).all() and (weights[142:] == 0.0).all()  # 10 px beyond the core: 0
    row = weights[100, 100:160]
    assert (np.diff(row) <= 0).all() and 0 < row[30] < 1  # smooth fall across the feather


def test_blend_is_exact_at_both_ends():
    base = np.full((2, 3), 1000, dtype=np.uint16)
    face = np.full((2, 3), 3000, dtype=np.uint16)
    weights = np.array([[0.0, 0.5, 1.0], [1.0, 0.25, 0.0]], dtype=np.float32)
    assert blend(base, face, weights).tolist() == [[1000, 2000, 3000], [3000, 1500, 1000]]
    with pytest.raises(ValueError):
        blend(base, face[:1], weights)


# --- the pipeline with stand-in networks -------------------------------------------------------------------


@pytest.fixture
def standins(monkeypatch) -> list[str]:
    """``standard`` = nearest neighbour, ``precise`` = 1 minus it; faces = [FACE]; records the models run."""
    loaded: list[str] = []

    def fake_load_network(name: str, scale: int, device: str):
        loaded.append(name)
        if name == "precise":
            return lambda x: 1 - F.interpolate(x, scale_factor=scale, mode="nearest")
        return nearest(scale)

    monkeypatch.setattr(pipeline, "load_network", fake_load_network)
    monkeypatch.setattr(pipeline, "detect_faces", lambda image: [FACE])
    return loaded


def _inputs() -> dict[str, Image.Image | np.ndarray]:
    rgb = Image.fromarray(data.astronaut()).resize((160, 120))
    rgba = rgb.copy()
    rgba.putalpha(Image.fromarray(np.linspace(0, 255, 160 * 120).reshape(120, 160).astype(np.uint8)))
    return {
        "RGB": rgb,
        "RGBA": rgba,
        "L": rgb.convert("L"),
        "I;16": Image.fromarray(np.asarray(rgb.convert("L")).astype(np.uint16) * 257 + 3),
        "RGB;16": np.asarray(rgb).astype(np.uint16) * 257 + 3,
    }


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "I;16", "RGB;16"])
def test_precise_in_the_faces_standard_elsewhere_exactly(standins, mode):
    image = _inputs()[mode]
    size = (640, 480)

    result = upscale_image(image, size, model="portrait", device=CPU)
    standard = np.asarray(upscale_image(image, size, model="standard", device=CPU).image)
    precise = np.asarray(upscale_image(image, size, model="precise", device=CPU).image)

    out = np.asarray(result.image)
    assert (result.model, result.scale_chain) == ("portrait", [4])
    assert out.shape == standard.shape and out.dtype == standard.dtype
    if isinstance(result.image, Image.Image):
        assert result.image.mode == mode
    (region,) = plan_regions([FACE], (160, 120), size)
    weights = np.zeros(out.shape[:2], dtype=np.float32)
    x0, y0, x1, y1 = region.out_box
    weights[y0:y1, x0:x1] = blend_weights(region, (160, 120), size)
    assert np.array_equal(out[weights == 0], standard[weights == 0])
    assert np.array_equal(out[weights == 1], precise[weights == 1])
    assert (weights == 1).sum() > 140 * 140  # the core: 38x44 input pixels at x4
    assert not np.array_equal(out, standard)


def test_no_faces_is_standard_pixel_for_pixel(standins, monkeypatch):
    monkeypatch.setattr(pipeline, "detect_faces", lambda image: [])
    image = _inputs()["RGB"]

    out = upscale_image(image, (400, 300), model="portrait", device=CPU)

    assert np.array_equal(np.asarray(out.image), np.asarray(upscale_image(image, (400, 300), device=CPU).image))
    assert "precise" not in standins


def test_auto_and_the_portrait_model_it_picks_look_for_faces_once(standins, monkeypatch):
    import io

    from inference import faces, open_image
    from inference.pipeline import upscale_source

    looked: list[object] = []

    def detect(image):
        looked.append(image)
        return [FACE]

    monkeypatch.setattr(faces, "detect_faces", detect)
    monkeypatch.setattr(pipeline, "detect_faces", detect)
    jpeg = io.BytesIO()
    _inputs()["RGB"].save(jpeg, format="JPEG", quality=60)  # damaged: auto would pick standard
    source = open_image(jpeg, max_pixels=10**6)

    choice = source.auto_choice()
    result, _ = upscale_source(source, (640, 480), io.BytesIO(), model=choice.model)

    assert (choice.model, result.model) == ("portrait", "portrait")
    assert len(looked) == 1


def test_progress_goes_from_0_to_1_over_both_passes(standins):
    fractions: list[float] = []
    upscale_image(_inputs()["RGB"], (640, 480), model="portrait", device=CPU, tile=32, progress=fractions.append)
    assert standins[0] == "standard" and "precise" in standins
    assert fractions == sorted(fractions) and fractions[0] > 0 and fractions[-1] == pytest.approx(1.0)


def test_the_budget_covers_both_models():
    spec = get_spec("portrait")
    assert spec.combines == ("standard", "precise")
    assert spec.cpu_seconds_per_megapixel == (
        get_spec("standard").cpu_seconds_per_megapixel + get_spec("precise").cpu_seconds_per_megapixel
    )


# --- the real networks -------------------------------------------------------------------------------------


def test_real_networks_make_the_face_as_faithful_as_precise():
    """A 256x256 crop of the astronaut around her face, made 64x64 (MATLAB bicubic) and upscaled x4.

    Measured (CPU): face PSNR on Y standard 25.6 dB, precise 30.1, portrait within
    0.1 dB of precise; outside the regions portrait is standard's, pixel for pixel.
    """
    truth = np.asarray(Image.fromarray(data.astronaut()).crop((96, 0, 352, 256)))
    small = Image.fromarray(imresize_bicubic_down(truth, 4))
    faces = detect_faces(small)
    assert len(faces) == 1

    outputs = {
        name: np.asarray(upscale_image(small, (256, 256), model=name, device=CPU).image)
        for name in ("standard", "precise", "portrait")
    }

    weights = np.zeros((256, 256), dtype=np.float32)
    for region in plan_regions(faces, (64, 64), (256, 256)):
        x0, y0, x1, y1 = region.out_box
        weights[y0:y1, x0:x1] = np.maximum(weights[y0:y1, x0:x1], blend_weights(region, (64, 64), (256, 256)))
    face = {name: psnr_y(out, truth, 4, weights == 1) for name, out in outputs.items()}
    print(f"face PSNR on Y: {face}")
    assert face["portrait"] >= face["precise"] - 0.1
    assert face["portrait"] > face["standard"] + 1.0
    outside = weights == 0
    assert np.array_equal(outputs["portrait"][outside], outputs["standard"][outside])
