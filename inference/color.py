"""Colour correction: give an upscaled image its input's low-frequency colour back.

GAN super-resolution models (Real-ESRGAN) shift colours slightly: a sky a little more
cyan, a skin tone a little more saturated. The fix used by upscaling services and
video pipelines alike is to keep the network's high frequencies (the detail it adds)
and take the low frequencies (the colour of each region) from the input:

    result + upsample(low(input) - low(downsample(result)))

where ``low`` keeps the input resolution's lowest frequencies (a box average over
``radius`` input pixels, interpolated back), so regions smaller than a few input pixels
keep the network's colour: edges and texture are not smeared.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

#: Size, in input pixels, of the regions whose average colour is taken from the input.
RADIUS = 4


def match_colors(result: np.ndarray, source: np.ndarray, *, peak: float = 255.0, radius: int = RADIUS) -> np.ndarray:
    """``result`` with the low-frequency colour of ``source``.

    Args:
        result: (H, W, C) upscaled colour in [0, ``peak``] (any numeric dtype).
        source: (h, w, C) the input's colour in the same range, h <= H and w <= W.
        peak: the largest sample value: 255 for 8 bits, 65535 for 16, 1 for [0, 1] floats.
        radius: the size of the averaged regions, in input pixels.

    Returns:
        (H, W, C) float32 in [0, ``peak``].
    """
    height, width = source.shape[:2]
    result = result.astype(np.float32, copy=False)
    down = np.stack([_resize(result[..., c], (width, height)) for c in range(result.shape[2])], axis=2)
    difference = _low(source.astype(np.float32), radius) - _low(down, radius)
    big = (result.shape[1], result.shape[0])
    correction = np.stack([_resize(difference[..., c], big) for c in range(difference.shape[2])], axis=2)
    out: np.ndarray = np.clip(result + correction, 0.0, peak).astype(np.float32)
    return out


def _resize(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One float32 plane resized to ``size`` = (width, height): box filter down, bilinear up."""
    resample = Image.Resampling.BOX if size[0] < plane.shape[1] else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(plane.astype(np.float32), "F").resize(size, resample), dtype=np.float32)


def _low(image: np.ndarray, radius: int) -> np.ndarray:
    """The low frequencies of (h, w, C) ``image``: averages over ``radius`` pixels, interpolated back."""
    height, width = image.shape[:2]
    small = (max(1, round(width / radius)), max(1, round(height / radius)))
    planes = [_resize(_resize(image[..., c], small), (width, height)) for c in range(image.shape[2])]
    return np.stack(planes, axis=2)
