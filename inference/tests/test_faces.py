"""Face detection (:mod:`inference.faces`): MTCNN with the weights facenet-pytorch ships, on real photos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage import data

from inference.faces import Face, detect_faces, face_share, missing_detector

#: The astronaut's face in skimage's 512x512 photo, (left, top, right, bottom), from MTCNN itself.
ASTRONAUT_FACE = (181, 62, 268, 172)


def astronaut() -> Image.Image:
    return Image.fromarray(data.astronaut())


def test_the_detector_is_installed():
    assert missing_detector() == []


def test_finds_the_astronauts_face():
    faces = detect_faces(astronaut())
    assert len(faces) == 1
    assert np.allclose(faces[0].box, ASTRONAUT_FACE, atol=4)
    assert faces[0].probability > 0.99


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "uint16"])
def test_any_mode_and_16_bit_samples(mode):
    img = astronaut()
    pixels = np.asarray(img).astype(np.uint16) * 257 if mode == "uint16" else img.convert(mode)
    faces = detect_faces(pixels)
    assert len(faces) == 1 and np.allclose(faces[0].box, ASTRONAUT_FACE, atol=6)


def test_boxes_are_in_the_inputs_pixels_when_detection_runs_on_a_smaller_copy():
    """A 2048x2048 input is searched at 1024x1024 (DETECT_SIDE); the box comes back at 2048 scale."""
    faces = detect_faces(astronaut().resize((2048, 2048), Image.Resampling.BICUBIC))
    assert len(faces) == 1 and np.allclose(faces[0].box, [4 * v for v in ASTRONAUT_FACE], atol=16)


@pytest.mark.parametrize("name", ["coffee", "chelsea", "rocket", "hubble_deep_field"])
def test_no_faces_in_photos_without_people(name):
    assert detect_faces(Image.fromarray(getattr(data, name)())) == []


def test_tiny_and_flat_images_have_no_faces():
    assert detect_faces(Image.new("RGB", (8, 8))) == []
    assert detect_faces(Image.new("RGB", (64, 48), (128, 128, 128))) == []


def test_face_share_counts_overlaps_once():
    faces = [Face((0.0, 0.0, 50.0, 50.0), 1.0), Face((25.0, 0.0, 75.0, 50.0), 1.0)]
    assert face_share(faces, (100, 100)) == pytest.approx(0.375)
    assert face_share([], (100, 100)) == 0.0
    assert face_share(detect_faces(astronaut()), (512, 512)) == pytest.approx(87 * 110 / 512**2, rel=0.1)
