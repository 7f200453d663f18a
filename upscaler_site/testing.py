"""Helpers for the test suites of every app (not used by the service itself)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image as PILImage
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from skimage import data


def client_for(user) -> APIClient:
    """An API client sending ``Authorization: Bearer <token>`` for ``user``."""
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.key}")
    return client


def photo(size: tuple[int, int] | None = None, crop: tuple[int, int, int, int] | None = None) -> PILImage.Image:
    """skimage's chelsea (a real photo of a cat, 451x300 RGB), optionally cropped to a box, then resized."""
    img = PILImage.fromarray(data.chelsea())
    if crop:
        img = img.crop(crop)
    if size:
        img = img.resize(size, PILImage.Resampling.LANCZOS)
    return img


def encode(img: PILImage.Image, fmt: str = "PNG", name: str | None = None, **params) -> io.BytesIO:
    """An in-memory file of ``img`` in ``fmt``, named for upload."""
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    buf.seek(0)
    buf.name = name or "photo." + {"JPEG": "jpg"}.get(fmt, fmt.lower())
    return buf


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB between two arrays of the same shape and range [0, peak]."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(peak**2 / mse))
