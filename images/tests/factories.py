"""Image records for tests, with real files in storage."""

from __future__ import annotations

import io

from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image as PILImage

from images.models import Image
from images.thumbnails import preview_jpeg
from upscaler_site.testing import encode, photo


def make_image(owner, *, status: str = Image.Status.PENDING, size: tuple[int, int] = (40, 30), **fields) -> Image:
    """An image record of ``owner`` (a workspace, or a user's personal workspace) whose original (a
    real photo, PNG) is in storage; completed ones get a 2x result and, like the worker makes
    them, both thumbnails."""
    original = encode(photo(size=size), "PNG")
    width, height = size
    defaults = {
        "original_filename": "cat.png",
        "original_size": len(original.getvalue()),
        "original_width": width,
        "original_height": height,
        "original_format": "PNG",
        "scale_factor": 2,
        "target_width": width * 2,
        "target_height": height * 2,
        "model": "standard",
    }
    workspace = owner.personal_workspace if hasattr(owner, "personal_workspace") else owner
    merged = {**defaults, **fields}
    merged.setdefault("model_used", merged["model"])
    image = Image(workspace=workspace, status=status, **merged)
    image.original.save("cat.png", ContentFile(original.getvalue()), save=False)
    if status == Image.Status.COMPLETED:
        result = io.BytesIO()
        photo(size=(width * 2, height * 2)).save(result, format="PNG")
        image.upscaled.save(f"upscaled_{width * 2}x{height * 2}.png", ContentFile(result.getvalue()), save=False)
        image.upscaled_size = len(result.getvalue())
        image.upscaled_width, image.upscaled_height = width * 2, height * 2
        image.upscaled_format = "PNG"
        image.processing_time = 1.25
        image.completed_at = timezone.now()
    image.save()
    if status == Image.Status.COMPLETED:
        image.store_thumbnail("original_thumbnail", preview_jpeg(photo(size=size)))
        image.store_thumbnail("result_thumbnail", preview_jpeg(photo(size=(width * 2, height * 2))))
    return image


def open_result(content: bytes) -> PILImage.Image:
    return PILImage.open(io.BytesIO(content))
