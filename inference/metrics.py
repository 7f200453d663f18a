"""Image-quality metrics and degradations as the super-resolution literature uses them.

The classic SR benchmark protocol (SRCNN, EDSR, RCAN, SwinIR, DAT ...):

1. crop the ground-truth high-resolution (HR) image to a multiple of the scale;
2. make the low-resolution (LR) input with MATLAB's ``imresize(hr, 1/scale, 'bicubic')``
   (:func:`imresize_bicubic_down`);
3. upscale the LR image back to the HR size;
4. compare on the luma channel Y of MATLAB's ``rgb2ycbcr`` (:func:`rgb_to_y`), after
   cropping ``scale`` pixels from every border: PSNR (:func:`psnr_y`) and SSIM
   (:func:`ssim_y`).

Only numpy is needed at import time; SSIM imports scikit-image (a dev dependency)
when it is called.
"""

from __future__ import annotations

import math

import numpy as np

# ITU-R BT.601 luma for studio-range output, the first row of MATLAB's rgb2ycbcr matrix.
_Y_WEIGHTS = np.array([65.481, 128.553, 24.966], dtype=np.float64)


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """The ITU-R BT.601 luma of an RGB image, as MATLAB's ``rgb2ycbcr`` computes it.

    ``Y = 16 + (65.481 R + 128.553 G + 24.966 B)`` for R, G, B in [0, 1], i.e. in
    [16, 235]. Unlike MATLAB on uint8 input, the result is not rounded (the convention
    of the Python SR toolkits, e.g. BasicSR's ``bgr2ycbcr(..., y_only=True)``).

    Args:
        rgb: (H, W, 3) uint8 RGB.

    Returns:
        (H, W) float64 luma in [16, 235].

    Raises:
        ValueError: not an (H, W, 3) uint8 array.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"Expected an (H, W, 3) uint8 array, got {rgb.dtype} {rgb.shape}.")
    return 16.0 + rgb.astype(np.float64) @ (_Y_WEIGHTS / 255.0)


def _cropped_y(sr: np.ndarray, hr: np.ndarray, crop: int) -> tuple[np.ndarray, np.ndarray]:
    sr = np.asarray(sr)
    hr = np.asarray(hr)
    if sr.shape != hr.shape:
        raise ValueError(f"The images differ in shape: {sr.shape} vs {hr.shape}.")
    if crop < 0:
        raise ValueError(f"crop must be >= 0, got {crop}.")
    sr_y, hr_y = rgb_to_y(sr), rgb_to_y(hr)
    if crop:
        if min(sr_y.shape) <= 2 * crop:
            raise ValueError(f"A {crop}-pixel border leaves nothing of a {sr_y.shape} image.")
        sr_y = sr_y[crop:-crop, crop:-crop]
        hr_y = hr_y[crop:-crop, crop:-crop]
    return sr_y, hr_y


def psnr_y(sr: np.ndarray, hr: np.ndarray, crop: int, mask: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio on the Y channel, in dB, as SR papers report it.

    ``10 log10(255^2 / MSE)`` over the luma (:func:`rgb_to_y`, not rounded) of both
    images with ``crop`` pixels removed from each border (``crop`` = the scale factor
    in the literature).

    Args:
        sr: (H, W, 3) uint8 RGB, the reconstruction.
        hr: (H, W, 3) uint8 RGB, the ground truth.
        crop: border width in pixels removed on every side before measuring (>= 0).
        mask: (H, W) bool, the pixels to measure (e.g. the faces); None for all.

    Returns:
        PSNR in dB; ``math.inf`` for identical images.

    Raises:
        ValueError: shapes differ, wrong dtype, the border leaves nothing, or the mask
            is of another size or leaves nothing.
    """
    sr_y, hr_y = _cropped_y(sr, hr, crop)
    if mask is not None:
        if mask.shape != sr.shape[:2]:
            raise ValueError(f"The mask is {mask.shape}, the images {sr.shape[:2]}.")
        kept = mask[crop : mask.shape[0] - crop, crop : mask.shape[1] - crop].astype(bool)
        if not kept.any():
            raise ValueError("The mask leaves nothing to measure.")
        sr_y, hr_y = sr_y[kept], hr_y[kept]
    mse = float(np.mean((sr_y - hr_y) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(255.0**2 / mse)


def ssim_y(sr: np.ndarray, hr: np.ndarray, crop: int) -> float:
    """Structural similarity on the Y channel, as SR papers report it.

    SSIM of Wang, Bovik, Sheikh and Simoncelli, "Image Quality Assessment: From Error
    Visibility to Structural Similarity", IEEE TIP 13(4), 2004: an 11x11 Gaussian window
    with sigma 1.5, K1 = 0.01, K2 = 0.03, dynamic range L = 255, population (not sample)
    covariances, averaged over the positions where the window fits inside the image
    (MATLAB ``ssim_index``'s 'valid' filtering). Computed with
    ``skimage.metrics.structural_similarity`` on the luma of both images after removing
    ``crop`` pixels from each border.

    Args:
        sr: (H, W, 3) uint8 RGB, the reconstruction.
        hr: (H, W, 3) uint8 RGB, the ground truth.
        crop: border width in pixels removed on every side before measuring (>= 0).

    Returns:
        Mean SSIM in [-1, 1]; 1.0 for identical images.

    Raises:
        ValueError: shapes differ, wrong dtype, or the border leaves nothing.
    """
    from skimage.metrics import structural_similarity

    sr_y, hr_y = _cropped_y(sr, hr, crop)
    return float(
        structural_similarity(  # type: ignore[no-untyped-call]
            sr_y,
            hr_y,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=255.0,
            K1=0.01,
            K2=0.03,
        )
    )


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``)."""
    ax = np.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    kernel: np.ndarray = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * (
        (ax > 1) & (ax <= 2)
    )
    return kernel


def _contributions(in_length: int, out_length: int, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights and (0-based) source indices of MATLAB's ``contributions`` for a 1/scale downscale.

    Returns (out_length, P) float64 weights summing to 1 per row and (out_length, P)
    int64 indices into [0, in_length), mirrored at the borders as MATLAB does.
    """
    ratio = 1.0 / scale
    kernel_width = 4.0 / ratio  # antialiasing: the kernel is stretched by the factor
    x = np.arange(1, out_length + 1, dtype=np.float64)  # MATLAB's 1-based output coordinates
    u = x / ratio + 0.5 * (1.0 - 1.0 / ratio)  # their centres in 1-based input coordinates
    left = np.floor(u - kernel_width / 2.0)
    taps = math.ceil(kernel_width) + 2
    indices = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    weights = ratio * _cubic(ratio * (u[:, None] - indices))
    weights /= weights.sum(axis=1, keepdims=True)
    # Symmetric padding: aux = [1..n, n..1], indexed cyclically.
    aux = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    idx = aux[np.mod(indices.astype(np.int64) - 1, 2 * in_length)]
    keep = np.any(weights != 0, axis=0)
    return weights[:, keep], idx[:, keep]


def imresize_bicubic_down(img: np.ndarray, scale: int) -> np.ndarray:
    """Downscale by an integer factor like MATLAB's ``imresize(img, 1/scale, 'bicubic')``.

    This is how the LR inputs of the SR benchmarks are made. It is a numpy port of
    MATLAB's ``imresize``: Keys' cubic kernel with a = -0.5, stretched by ``scale`` for
    antialiasing (a support of 4 * scale input pixels), pixel-centre alignment
    ``u = x * scale + (1 - scale) / 2``, symmetric (mirror) padding at the borders,
    rows resized first, then columns; the result is rounded and clipped to uint8.

    Two known differences from MATLAB, both well below 0.01 dB on the benchmarks:
    intermediate values between the two 1-D passes stay float64 (MATLAB's mex rounds
    to uint8 there; BasicSR's ``imresize`` also keeps floats), and the output has
    ``H // scale`` x ``W // scale`` pixels, where MATLAB gives ``ceil`` - the same
    pixels, less a trailing partial row/column when the size is not a multiple (the
    protocol crops the HR image to a multiple first, so the two agree).

    Pillow's ``Image.resize(..., BICUBIC)`` also uses a = -0.5 with an antialiased
    support, but renormalises the kernel at the borders instead of mirroring and
    computes in fixed point with uint8 rounding between passes; it is close but not
    identical (see ``bench/quality.py`` and ``docs/benchmarks.md``).

    Args:
        img: (H, W, 3) or (H, W) uint8, with H and W at least ``scale``.
        scale: integer factor >= 1.

    Returns:
        (H // scale, W // scale[, 3]) uint8.

    Raises:
        ValueError: bad dtype, scale, or an image smaller than ``scale``.
    """
    img = np.asarray(img)
    if img.dtype != np.uint8 or img.ndim not in (2, 3):
        raise ValueError(f"Expected an (H, W[, C]) uint8 array, got {img.dtype} {img.shape}.")
    if not isinstance(scale, int | np.integer) or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}.")
    height, width = img.shape[:2]
    if height < scale or width < scale:
        raise ValueError(f"A {height}x{width} image is smaller than the factor {scale}.")
    if scale == 1:
        return img.copy()
    out = img.astype(np.float64)
    # Rows (dimension 1 in MATLAB) first, then columns, as MATLAB orders equal scales.
    weights, idx = _contributions(height, height // scale, scale)
    out = np.einsum("op,op...->o...", weights, out[idx])
    weights, idx = _contributions(width, width // scale, scale)
    out = np.einsum("op,aop...->ao...", weights, out[:, idx])
    result: np.ndarray = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return result
