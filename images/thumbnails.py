"""Small previews of stored images, for the admin (and any page that lists many images)."""

from __future__ import annotations

import io

from django.core.files import File
from PIL import Image as PILImage
from PIL import ImageOps

#: Longest side of a thumbnail, in pixels.
THUMBNAIL_SIZE = 160


def thumbnail_jpeg(file: File, size: int = THUMBNAIL_SIZE) -> bytes:
    """A JPEG of at most ``size`` x ``size`` pixels of the stored image ``file``, orientation applied.

    JPEGs decode at a reduced scale (``draft``), so a 64 MP result costs little.
    Transparency is flattened onto white; 16-bit images are reduced to 8 bits.

    Raises:
        OSError / PIL.UnidentifiedImageError: the file is missing or not an image.
    """
    with file.open("rb") as handle, PILImage.open(handle) as stored:
        stored.draft("RGB", (size, size))
        image: PILImage.Image = ImageOps.exif_transpose(stored)
        image.thumbnail((size, size))
        if image.mode in ("I;16", "I;16B", "I"):
            image = image.point(lambda v: v / 256).convert("L")
        if image.mode in ("RGBA", "LA", "P"):
            rgba = image.convert("RGBA")
            image = PILImage.new("RGB", rgba.size, "white")
            image.paste(rgba, mask=rgba.getchannel("A"))
        out = io.BytesIO()
        image.convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()
