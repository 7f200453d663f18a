"""Face detection for the ``portrait`` model and ``auto``: where the faces of a photo are.

The detector is MTCNN: Zhang, Zhang, Li and Qiao, "Joint Face Detection and Alignment
Using Multitask Cascaded Convolutional Networks", IEEE Signal Processing Letters 23(10),
2016. Three small CNNs in cascade: P-Net proposes windows over an image pyramid, R-Net
and O-Net refine and score them. The weights and the code are those of
``facenet-pytorch`` (MIT), whose wheel carries the three state dicts
(``facenet_pytorch/data/{pnet,rnet,onet}.pt``, 2 MB in all); nothing is downloaded.

Cost, measured on the 2-core CPU worker (under a load of 3): importing
``facenet_pytorch`` adds 0.06 s to a process that already imported the pipeline
(which loads torch and torchvision; 2.6 s in a fresh process), building the detector
0.03 s, a detection 0.02-0.1 s at 128x128, 0.2 s at 512x512 and 0.5 s at 1024x1024
and above (larger images are searched at :data:`DETECT_SIDE`). The package's other
parts (InceptionResnetV1, its training helpers, a weight downloader that is never
called) come along with the import and cost nothing more.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from facenet_pytorch import MTCNN

#: Detection runs on a copy at most this many pixels on its longer side: its cost grows
#: with the pixels, and a face under 2 % of the image's side (MTCNN's 20 px at this size)
#: matters to neither ``auto`` nor the blend.
DETECT_SIDE = 1024
#: MTCNN's smallest face, in pixels of the detection copy (the library's default).
MIN_FACE_PIXELS = 20
#: O-Net's face probability a detection needs. Measured on Set5, Set14 and skimage's
#: photos, as PNG and as JPEG at quality 40-90, full size and a quarter: real faces score
#: 0.94-1.00 (the lowest: small or cut by the frame, e.g. the cameraman at 128x128 and
#: quality 40, Set14 ``face``); textures below 0.8 (the baboon's fur 0.77). The one
#: non-face above it, a wing in Set5's ``butterfly`` (0.91-0.97), has an "eye" outside
#: the picture, which :func:`detect_faces` refuses.
MIN_PROBABILITY = 0.9


@dataclass(frozen=True)
class Face:
    """A face found in an image.

    ``box``: (left, top, right, bottom) in input pixels, floats, clipped to the image
    (right/bottom exclusive, like Pillow's crop box). ``probability``: the detector's
    face score in [:data:`MIN_PROBABILITY`, 1].
    """

    box: tuple[float, float, float, float]
    probability: float

    @property
    def width(self) -> float:
        """The box's width in input pixels."""
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        """The box's height in input pixels."""
        return self.box[3] - self.box[1]

    @property
    def area(self) -> float:
        """The box's area in input pixels squared."""
        return self.width * self.height


def face_share(faces: Sequence[Face], size: tuple[int, int]) -> float:
    """The share of an image of ``size`` = (width, height) pixels that the faces' boxes cover, in [0, 1].

    Overlapping boxes count once: the exact area of their union, over the cells of the
    grid their edges make (a handful of faces, so no pixel mask of a 64 MP image).
    """
    width, height = size
    if not faces or width < 1 or height < 1:
        return 0.0
    xs = sorted({edge for face in faces for edge in (face.box[0], face.box[2])})
    ys = sorted({edge for face in faces for edge in (face.box[1], face.box[3])})
    covered = 0.0
    for x0, x1 in itertools.pairwise(xs):
        for y0, y1 in itertools.pairwise(ys):
            if any(f.box[0] <= x0 and x1 <= f.box[2] and f.box[1] <= y0 and y1 <= f.box[3] for f in faces):
                covered += (x1 - x0) * (y1 - y0)
    return covered / (width * height)


@functools.lru_cache(maxsize=1)
def _detector() -> MTCNN:
    """The MTCNN cascade on the CPU with its packaged weights, built once per process."""
    from facenet_pytorch import MTCNN

    # keep_all: every face, not only the largest; the library sorts them largest first.
    return MTCNN(keep_all=True, min_face_size=MIN_FACE_PIXELS, device="cpu").eval()


def detect_faces(image: Image.Image | np.ndarray) -> list[Face]:
    """The faces in ``image``, largest first.

    Runs MTCNN on an 8-bit RGB copy at most :data:`DETECT_SIDE` pixels a side (on the
    CPU: the cascade is small, and a few hundred milliseconds are nothing against
    minutes of upscaling) and keeps the detections scoring at least
    :data:`MIN_PROBABILITY` whose eyes are inside the image. Alpha is ignored
    (the colour as stored is what is searched).

    Args:
        image: a Pillow image of any mode, or (H, W, 3|4) uint16 RGB(A) samples
            (``SourceImage.pixels``).

    Returns:
        The faces, boxes in the input's pixels clipped to it; empty when there are none.

    Raises:
        ModuleNotFoundError: ``facenet-pytorch`` is not installed.
    """
    import torch

    if isinstance(image, np.ndarray):
        rgb = Image.fromarray((image[:, :, :3] >> 8).astype(np.uint8), "RGB")
    else:
        rgb = image.convert("RGB")
    width, height = rgb.size
    ratio = min(1.0, DETECT_SIDE / max(width, height))
    if ratio < 1.0:
        rgb = rgb.resize((max(1, round(width * ratio)), max(1, round(height * ratio))), Image.Resampling.BILINEAR)
    # P-Net's 12 px window has to fit once: below that the cascade has nothing to search.
    if min(rgb.size) < 12:
        return []
    with torch.inference_mode():
        boxes, probabilities, landmarks = _detector().detect(rgb, landmarks=True)
    if boxes is None:
        return []
    faces = []
    scale_x, scale_y = width / rgb.size[0], height / rgb.size[1]
    for (left, top, right, bottom), probability, points in zip(
        np.asarray(boxes, dtype=np.float64), probabilities, np.asarray(landmarks, dtype=np.float64), strict=True
    ):
        # Landmarks: the eyes, the nose, the mouth's corners. A face is in the picture when its
        # eyes are; its box, even its nose, may reach past the frame (close-ups: Set14 face).
        eyes = points[:2]
        in_view = bool(((eyes >= 0) & (eyes < rgb.size)).all())
        box = (
            float(min(max(left * scale_x, 0.0), width)),
            float(min(max(top * scale_y, 0.0), height)),
            float(min(max(right * scale_x, 0.0), width)),
            float(min(max(bottom * scale_y, 0.0), height)),
        )
        if probability >= MIN_PROBABILITY and in_view and box[2] > box[0] and box[3] > box[1]:
            faces.append(Face(box=box, probability=float(probability)))
    return faces


def missing_detector() -> list[str]:
    """Why faces could not be detected on this host: one line per missing package or weight file; empty when
    the detector is installed. Reads no weights."""
    # find_spec locates the package without running its __init__ (which imports torch and torchvision).
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return ["portrait: facenet-pytorch is not installed (requirements-nodeps.txt)"]
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    return [f"portrait: facenet_pytorch/data/{name}.pt not found" for name in ("pnet", "rnet", "onet")
            if not (data / f"{name}.pt").is_file()]  # fmt: skip
