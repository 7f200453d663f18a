"""Small previews of an image, made once by the worker from the pixels it already holds.

The web tier never decodes an upload (a 64 MP PNG fits in 10 MB): the history grid and
the admin show these stored JPEGs instead.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image as PILImage

#: Longest side of a thumbnail, in pixels: twice the history grid's card width, for sharp
#: previews on high-density screens.
THUMBNAIL_SIZE = 320


def preview_jpeg(picture: PILImage.Image | np.ndarray, size: int = THUMBNAIL_SIZE) -> bytes:
    """A JPEG of at most ``size`` x ``size`` pixels of a decoded image (orientation already applied).

    Args:
        picture: a Pillow image of any mode the pipeline handles, or (H, W, 3|4) uint16
            samples (a 16-bit result).

    Transparency is flattened onto white; 16-bit images are reduced to 8 bits.
    """
    if isinstance(picture, np.ndarray):
        picture = PILImage.fromarray((picture >> 8).astype(np.uint8))
    image = picture.copy()
    image.thumbnail((size, size))
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        image = image.point(lambda v: v / 256).convert("L")
    if image.mode in ("RGBA", "LA", "P", "PA", "La", "RGBa") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = PILImage.new("RGB", rgba.size, "white")
        image.paste(rgba, mask=rgba.getchannel("A"))
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()
