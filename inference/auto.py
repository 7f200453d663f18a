"""The ``auto`` model: pick a model per image from measured properties.

Two measurements drive the choice:

* **Illustration or photo.** Line art, anime and generated flat-colour art have large
  areas of uniform colour separated by hard edges; photos have sensor noise, texture
  and smooth gradients almost everywhere. :func:`illustration_score` measures both.
* **JPEG damage.** :func:`estimate_jpeg_quality` recovers the IJG quality setting from
  the file's quantisation tables (the tables are the standard ones scaled by a
  quality-dependent factor, ITU-T T.81 Annex K and libjpeg's ``jpeg_quality_scaling``).

Illustrations go to ``anime``; photos to ``standard`` (Real-ESRGAN, trained on
real-world degradations) unless the source is clean (lossless, or JPEG at quality 95
or more), where the PSNR-oriented ``precise`` model stays closer to the original.

A third measurement only matters where ``standard`` would run: **faces**
(:mod:`inference.faces`, MTCNN). Real-ESRGAN gives faces waxy skin and odd eyes, so a
photo going to ``standard`` whose faces cover at least :data:`PORTRAIT_MIN_FACE_SHARE`
of it goes to ``portrait`` (``precise`` on the faces, ``standard`` elsewhere) instead.
A clean photo stays with ``precise``, which is already faithful to faces and, being
faithful everywhere, closer to the original than ``portrait``'s GAN background
(docs/benchmarks.md, "Portrait"). The detector runs only for those photos, in the worker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from inference.catalog import PORTRAIT
from inference.faces import Face, face_share

# ITU-T T.81 Annex K.1, luminance quantisation table, natural (row-major) order.
STD_LUMINANCE_TABLE = np.array(
    [
        16, 11, 10, 16, 24, 40, 51, 61,
        12, 12, 14, 19, 26, 58, 60, 55,
        14, 13, 16, 24, 40, 57, 69, 56,
        14, 17, 22, 29, 51, 87, 80, 62,
        18, 22, 37, 56, 68, 109, 103, 77,
        24, 35, 55, 64, 81, 104, 113, 92,
        49, 64, 78, 87, 103, 121, 120, 101,
        72, 92, 95, 98, 112, 100, 103, 99,
    ],
    dtype=np.float64,
)  # fmt: skip

CLEAN_JPEG_QUALITY = 95
ILLUSTRATION_THRESHOLD = 0.45
#: The share of a photo its faces' boxes must cover for ``portrait``. Measured with
#: :func:`inference.faces.detect_faces`: head-and-shoulders and waist-up portraits are
#: above it (Set14 ``barbara`` 2.8 %, ``man`` 3.1 %, skimage's astronaut 3.6 %, ``lenna``
#: 13 %, Set5 ``baby`` 51 %), a full figure in a scene below (skimage's cameraman,
#: 1.5 %), as are photos without faces (0 %: skimage's coffee, chelsea, rocket, hubble;
#: Set14's baboon, bridge, pepper, zebra ...). Below it the face is a detail of the
#: picture, and ``precise`` on it would buy little for its cost.
PORTRAIT_MIN_FACE_SHARE = 0.025


def scaled_table(quality: int) -> np.ndarray:
    """The luminance table libjpeg writes for ``quality`` in [1, 100] (values clipped to [1, 255])."""
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return np.clip(np.floor((STD_LUMINANCE_TABLE * scale + 50) / 100), 1, 255)


def estimate_jpeg_quality(img: Image.Image) -> int | None:
    """The IJG quality (1-100) a JPEG was most likely saved at, or None if it is not a JPEG.

    Compares the file's first (luminance) quantisation table with the standard table
    scaled for every quality and returns the closest. Encoders with custom tables get
    the quality whose table is nearest.
    """
    tables = getattr(img, "quantization", None)
    if not tables:
        return None
    table = np.asarray(tables[min(tables)], dtype=np.float64)
    if table.size != 64:
        return None
    errors = [np.abs(scaled_table(q) - table).sum() for q in range(1, 101)]
    return int(np.argmin(errors)) + 1


def illustration_score(img: Image.Image, size: int = 256) -> float:
    """How much ``img`` looks like an illustration rather than a photo, in [0, 1].

    Measured on a copy downscaled (nearest neighbour, so no new colours appear) to at
    most ``size`` pixels a side: the share of *flat* pixels (all four neighbours within
    one level of their colour: fills) times one minus the share of *soft* horizontal
    steps (luma differences of 3 to 19 levels: the gradients, texture and noise of
    photos). Flat-colour art scores near 1, photos near 0 (measured: 0.00-0.18 on
    skimage's photos, 0.65-0.95 on flat art even after JPEG at quality 75, 0.40 on
    its logo, which Real-ESRGAN ``standard`` suits).
    """
    small = img.convert("RGB")
    small.thumbnail((size, size), Image.Resampling.NEAREST)
    rgb = np.asarray(small, dtype=np.int16)
    if rgb.shape[0] < 3 or rgb.shape[1] < 3:
        return 0.0
    center = rgb[1:-1, 1:-1]
    flat = np.ones(center.shape[:2], dtype=bool)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        neighbour = rgb[1 + dy : rgb.shape[0] - 1 + dy, 1 + dx : rgb.shape[1] - 1 + dx]
        flat &= np.abs(center - neighbour).max(axis=2) <= 1
    steps = np.abs(np.diff(rgb.mean(axis=2), axis=1))
    soft = ((steps > 2) & (steps < 20)).mean()
    return float(flat.mean() * (1.0 - soft))


@dataclass(frozen=True)
class AutoChoice:
    """The model ``auto`` picked and why: ``model``, a short ``reason`` for the user,
    the ``illustration_score`` in [0, 1], the estimated ``jpeg_quality`` (or None), and
    the number of ``faces`` found and the ``face_share`` of the image they cover, in
    [0, 1] (0 and 0.0 where faces were not looked for)."""

    model: str
    reason: str
    illustration_score: float
    jpeg_quality: int | None
    faces: int = 0
    face_share: float = 0.0


def choose_model(
    img: Image.Image,
    source_format: str,
    jpeg_quality: int | None = None,
    faces: Callable[[], Sequence[Face]] | None = None,
) -> AutoChoice:
    """Pick ``anime``, ``standard``, ``precise`` or ``portrait`` for an image opened from a file of ``source_format``.

    ``jpeg_quality`` is the file's estimated quality when known (the tables are gone
    once the image has been transposed or converted); otherwise it is estimated from
    ``img`` itself. ``faces`` finds the faces in ``img`` (:func:`inference.faces.detect_faces`,
    PyTorch); it is called only for a photo that would otherwise go to ``standard``.
    Without it ``portrait`` is never picked.
    """
    score = illustration_score(img)
    quality = jpeg_quality
    if quality is None and source_format == "JPEG":
        quality = estimate_jpeg_quality(img)
    if score >= ILLUSTRATION_THRESHOLD:
        return AutoChoice("anime", f"illustration (score {score:.2f})", score, quality)
    if quality is not None and quality < CLEAN_JPEG_QUALITY:
        damage, reason = f"JPEG quality about {quality}", f"photo, JPEG quality about {quality}"
    elif source_format == "GIF":
        damage, reason = "256-colour GIF", "photo in a 256-colour GIF"
    else:
        return AutoChoice("precise", "clean photo", score, quality)
    found = list(faces()) if faces is not None else []
    share = face_share(found, img.size)
    if share >= PORTRAIT_MIN_FACE_SHARE:
        count = f"{len(found)} face{'s' if len(found) > 1 else ''}"
        reason = f"portrait: {count}, {share:.0%} of the image; {damage}"
        return AutoChoice(PORTRAIT, reason, score, quality, len(found), share)
    return AutoChoice("standard", reason, score, quality, len(found), share)
