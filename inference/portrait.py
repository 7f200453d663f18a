"""The geometry of the ``portrait`` model: which rectangles get ``precise``, and how they are blended in.

``portrait`` upscales the whole image with ``standard`` (Real-ESRGAN, whose GAN texture
suits hair, cloth and backgrounds but gives faces waxy skin and odd eyes) and each face
with ``precise`` (DAT-light, faithful to the input), then blends the faces in with
feathered masks (:func:`inference.pipeline.upscale_image` runs the passes). Around each
face's box (:mod:`inference.faces`) there are three bands, in input pixels:

* the **core**: the box grown by :data:`CORE_PAD` of its larger side, so that the
  hairline, chin and ears are in; weight 1, ``precise`` alone;
* the **feather**: :data:`FEATHER` of the face's larger side, where the weight falls
  smoothly from 1 to 0 with the distance from the core, so no seam shows;
* the **context**: ``precise``'s tile overlap (32 px), which the network sees but whose
  output is not used, so the crop's own border (where the network lacks neighbours)
  never reaches the result. With that context, tiled ``precise`` output matches
  whole-image output (docs/benchmarks.md), so the blended pixels are the ones
  ``precise`` would give on the whole image.

Outside the regions the result is ``standard``'s, pixel for pixel. Pure numpy, no PyTorch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from inference.catalog import get_spec
from inference.faces import Face

#: The core: the face's box grown on every side by this share of its larger side.
CORE_PAD = 0.1
#: The feather's width as a share of the face's larger side (at least :data:`MIN_FEATHER` pixels).
FEATHER = 0.25
MIN_FEATHER = 4.0
#: Input pixels of context ``precise`` sees beyond the feather: its tiles' overlap.
CONTEXT = get_spec("precise").overlap
#: How far (input pixels) a region's edge may move outwards so that it lands on a whole output pixel.
_SNAP = 8

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Region:
    """A rectangle of the input that ``precise`` upscales, and the faces blended from it.

    ``box``: (left, top, right, bottom) in input pixels, integers within the image,
    right/bottom exclusive. ``out_box``: the same rectangle in output pixels, where the
    crop's upscaled result goes. ``cores``: the face cores inside it, (left, top, right,
    bottom) in input pixels, floats. ``feathers``: each core's feather width in input pixels.
    """

    box: tuple[int, int, int, int]
    out_box: tuple[int, int, int, int]
    cores: tuple[Box, ...]
    feathers: tuple[float, ...]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the crop in input pixels."""
        return self.box[2] - self.box[0], self.box[3] - self.box[1]

    @property
    def out_size(self) -> tuple[int, int]:
        """(width, height) of the crop's result in output pixels."""
        return self.out_box[2] - self.out_box[0], self.out_box[3] - self.out_box[1]


def _snap(edge: float, ratio: float, limit: int, outwards: int) -> int:
    """An integer input coordinate at or just beyond ``edge`` (towards ``outwards`` = -1 or +1, within
    [0, ``limit``]) whose output coordinate ``x * ratio`` is nearest a whole pixel, so that the crop's
    result and the whole image's line up."""
    start = math.floor(edge) if outwards < 0 else math.ceil(edge)
    start = min(max(start, 0), limit)
    candidates = [min(max(start + outwards * k, 0), limit) for k in range(_SNAP)]
    return min(candidates, key=lambda x: (abs(x * ratio - round(x * ratio)) > 1e-6, abs(x - start)))


def plan_regions(faces: Sequence[Face], in_size: tuple[int, int], out_size: tuple[int, int]) -> list[Region]:
    """The rectangles to upscale with ``precise`` for ``faces`` in an image of ``in_size`` = (width, height)
    upscaled to ``out_size``: one per face, merged where they overlap (a crop is upscaled once).

    Returns:
        The regions, in no particular order; empty for no faces.
    """
    width, height = in_size
    ratio_x, ratio_y = out_size[0] / width, out_size[1] / height
    pending: list[tuple[list[float], list[Box], list[float]]] = []
    for face in faces:
        side = max(face.width, face.height)
        pad, feather = CORE_PAD * side, max(FEATHER * side, MIN_FEATHER)
        left, top, right, bottom = face.box
        core = (max(left - pad, 0.0), max(top - pad, 0.0), min(right + pad, width), min(bottom + pad, height))
        reach = feather + CONTEXT
        box = [core[0] - reach, core[1] - reach, core[2] + reach, core[3] + reach]
        pending.append((box, [core], [feather]))
    merged: list[tuple[list[float], list[Box], list[float]]] = []
    while pending:
        box, cores, feathers = pending.pop()
        for index, (other, other_cores, other_feathers) in enumerate(merged):
            if box[0] < other[2] and other[0] < box[2] and box[1] < other[3] and other[1] < box[3]:
                del merged[index]
                union = [min(box[0], other[0]), min(box[1], other[1]), max(box[2], other[2]), max(box[3], other[3])]
                # The union may now overlap another region: look again.
                pending.append((union, cores + other_cores, feathers + other_feathers))
                break
        else:
            merged.append((box, cores, feathers))
    regions = []
    for box, cores, feathers in merged:
        x0 = _snap(box[0], ratio_x, width, -1)
        y0 = _snap(box[1], ratio_y, height, -1)
        x1 = _snap(box[2], ratio_x, width, +1)
        y1 = _snap(box[3], ratio_y, height, +1)
        out_box = (round(x0 * ratio_x), round(y0 * ratio_y), round(x1 * ratio_x), round(y1 * ratio_y))
        regions.append(Region((x0, y0, x1, y1), out_box, tuple(cores), tuple(feathers)))
    return regions


def blend_weights(region: Region, in_size: tuple[int, int], out_size: tuple[int, int]) -> np.ndarray:
    """How much of ``precise`` each output pixel of ``region`` takes: (h, w) float32 in [0, 1], (w, h) =
    ``region.out_size``.

    1 inside a core, falling with the distance from it (rounded corners) along a
    smoothstep to 0 at the feather's outer edge, 0 beyond: in the context band and
    wherever the region is only there because regions merged.
    """
    ratio_x, ratio_y = out_size[0] / in_size[0], out_size[1] / in_size[1]
    out_w, out_h = region.out_size
    # Output pixel centres, in input pixels.
    xs = (region.out_box[0] + np.arange(out_w, dtype=np.float32) + 0.5) / ratio_x
    ys = (region.out_box[1] + np.arange(out_h, dtype=np.float32) + 0.5) / ratio_y
    weights = np.zeros((out_h, out_w), dtype=np.float32)
    for (left, top, right, bottom), feather in zip(region.cores, region.feathers, strict=True):
        dx = np.maximum(np.maximum(left - xs, xs - right), 0.0)
        dy = np.maximum(np.maximum(top - ys, ys - bottom), 0.0)
        distance = np.hypot(dy[:, None], dx[None, :])
        ramp = np.clip(1.0 - distance / feather, 0.0, 1.0)
        np.maximum(weights, ramp * ramp * (3.0 - 2.0 * ramp), out=weights)
    return weights


def blend(base: np.ndarray, face: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``base`` where ``weights`` is 0, ``face`` where it is 1, mixed linearly between.

    Args:
        base, face: (h, w) or (h, w, c) arrays of one shape and integer dtype (uint8 or
            uint16 samples; alpha is mixed like the colour).
        weights: (h, w) float in [0, 1].

    Returns:
        An array of ``base``'s shape and dtype, rounded to the nearest level.

    Raises:
        ValueError: the shapes differ.
    """
    if base.shape != face.shape or base.shape[:2] != weights.shape:
        raise ValueError(f"Cannot blend {face.shape} into {base.shape} with weights {weights.shape}.")
    w = weights if base.ndim == 2 else weights[:, :, None]
    mixed = base.astype(np.float32) + w * (face.astype(np.float32) - base.astype(np.float32))
    return np.rint(mixed).astype(base.dtype)
