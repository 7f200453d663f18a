"""Reading, validating and writing images: pixels in, pixels out, no Django.

An upload is opened with :func:`open_image`, which checks that it is a decodable,
still image of an allowed format and size. :func:`split_planes` turns it into float
colour and alpha planes for the model; :func:`merge_planes` and :func:`encode`
turn the upscaled planes back into a file in the input's format.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from inference.auto import estimate_jpeg_quality

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")

FORMAT_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "BMP": "bmp", "TIFF": "tiff", "GIF": "gif"}
FORMAT_CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
    "GIF": "image/gif",
}


#: libwebp refuses to encode an image wider or taller than this.
WEBP_MAX_SIDE = 16383


class InvalidImage(ValueError):
    """The input is not an image this service can upscale; the message says why, for the user."""


@dataclass
class SourceImage:
    """A decoded input image with the metadata its output must keep.

    ``image`` already has the EXIF orientation applied (and the orientation tag
    reset, so that viewers do not rotate the output a second time).
    """

    image: Image.Image
    format: str
    icc_profile: bytes | None = None
    exif: bytes | None = None
    info: dict = field(default_factory=dict)
    jpeg_quality: int | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels, after orientation."""
        return self.image.size


def open_image(fp: str | BinaryIO, *, max_pixels: int) -> SourceImage:
    """Open, validate and fully decode an image file.

    Args:
        fp: a path or a binary file object positioned at the start of the file.
        max_pixels: the largest accepted width x height; anything larger is
            refused before it is decoded (decompression-bomb protection).

    Returns:
        The decoded image with its format, ICC profile and EXIF, orientation applied.

    Raises:
        InvalidImage: not an image, a format outside ``ALLOWED_FORMATS``, an
            animated image, too many pixels, or a truncated or corrupt file.
    """
    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that; we refuse.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(fp)
        except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            if isinstance(exc, UnidentifiedImageError):
                raise InvalidImage("The file is not a valid image.") from None
            raise InvalidImage("The image has too many pixels.") from None
        except OSError:
            raise InvalidImage("The file is not a valid image.") from None

        # Pillow reads a JPEG with extra pictures (phone photos: depth or HDR gain maps) as
        # "MPO"; its first frame is the photo itself.
        fmt = "JPEG" if img.format == "MPO" else img.format
        if fmt not in ALLOWED_FORMATS:
            raise InvalidImage(
                f"Unsupported image format {img.format or 'unknown'}; use JPEG, PNG, WebP, BMP, TIFF or GIF."
            )
        width, height = img.size
        if width < 1 or height < 1:
            raise InvalidImage("The image is empty.")
        if width * height > max_pixels:
            raise InvalidImage(
                f"The image is {width}x{height} ({width * height / 1e6:.1f} MP); "
                f"at most {max_pixels / 1e6:.1f} MP can be upscaled."
            )
        if img.format != "MPO" and getattr(img, "n_frames", 1) > 1:
            raise InvalidImage("Animated images are not supported; upload a single frame.")
        try:
            img.load()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise InvalidImage("The image file is truncated or corrupt.") from None

    info = dict(img.info)
    icc = info.get("icc_profile")
    # Read before the transpose below, which drops the quantisation tables.
    quality = estimate_jpeg_quality(img) if fmt == "JPEG" else None
    oriented = ImageOps.exif_transpose(img)
    exif = oriented.getexif()
    exif_bytes = exif.tobytes() if len(exif) else None
    return SourceImage(image=oriented, format=fmt, icc_profile=icc, exif=exif_bytes, info=info, jpeg_quality=quality)


@dataclass
class Planes:
    """An image as float planes for the model.

    ``color``: (H, W, 3) float32 in [0, 1], RGB. ``alpha``: (H, W) float32 in [0, 1]
    or None. ``mode``: the Pillow mode the output is written in (``RGB``, ``RGBA``,
    ``L``, ``LA``, ``I;16``). ``bits``: 8 or 16 bits per sample.
    """

    color: np.ndarray
    alpha: np.ndarray | None
    mode: str
    bits: int = 8


def _has_transparency(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info


def split_planes(img: Image.Image) -> Planes:
    """Convert any supported Pillow image to :class:`Planes`.

    Palette images become RGB (or RGBA when they have transparency), CMYK and
    YCbCr become RGB, grayscale stays grayscale on output; 16-bit grayscale keeps
    16 bits.
    """
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        gray = np.asarray(img, dtype=np.float32)
        scale = 65535.0
        gray = np.clip(gray / scale, 0.0, 1.0)
        return Planes(np.repeat(gray[:, :, None], 3, axis=2), None, "I;16", bits=16)
    if img.mode == "F":
        gray = np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
        return Planes(np.repeat(gray[:, :, None], 3, axis=2), None, "L")
    if img.mode in ("1", "L"):
        gray = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
        return Planes(np.repeat(gray[:, :, None], 3, axis=2), None, "L")
    if img.mode in ("LA", "La"):
        arr = np.asarray(img.convert("LA"), dtype=np.float32) / 255.0
        return Planes(np.repeat(arr[:, :, :1], 3, axis=2), arr[:, :, 1].copy(), "LA")
    if _has_transparency(img):
        arr = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
        return Planes(np.ascontiguousarray(arr[:, :, :3]), arr[:, :, 3].copy(), "RGBA")
    return Planes(np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0, None, "RGB")


def to_uint(arr: np.ndarray, bits: int) -> np.ndarray:
    """Float [0, 1] samples to uint8 or uint16, rounded and clipped."""
    top = 65535.0 if bits == 16 else 255.0
    out = np.clip(arr, 0.0, 1.0) * top
    np.rint(out, out=out)
    return out.astype(np.uint16 if bits == 16 else np.uint8)


def resize_plane(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Lanczos resize of a Pillow image to (width, height); a no-op when the size matches."""
    if img.size == size:
        return img
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=None)


def merge_planes(color: Image.Image, alpha: Image.Image | None, mode: str) -> Image.Image:
    """Rebuild the output image in ``mode`` from an RGB (or 16-bit gray) colour image and an L alpha."""
    if mode == "I;16":
        return color
    if mode == "L":
        return color.convert("L")
    if mode == "LA":
        out = color.convert("L").convert("LA")
        out.putalpha(alpha)
        return out
    if mode == "RGBA":
        out = color.convert("RGBA")
        out.putalpha(alpha)
        return out
    return color.convert("RGB")


def output_format(source_format: str, image: Image.Image) -> str:
    """The format the output is written in: the input's, or PNG where it cannot carry the alpha."""
    has_alpha = image.mode in ("RGBA", "LA")
    if has_alpha and source_format in ("JPEG", "BMP", "GIF"):
        return "PNG"
    if image.mode == "I;16" and source_format not in ("PNG", "TIFF"):
        return "PNG"
    if source_format == "WEBP" and max(image.size) > WEBP_MAX_SIDE:
        return "PNG"
    return source_format


def encode(image: Image.Image, source: SourceImage, out: BinaryIO, fmt: str | None = None) -> str:
    """Write the upscaled image in the input's format (or ``fmt``); return the format written.

    JPEG and WebP are written at quality 95 (JPEG with 4:4:4 chroma), GIF with an
    adaptive palette. The ICC profile and EXIF (with the
    orientation already applied) are kept where the format can carry them.
    """
    fmt = output_format(fmt or source.format, image)
    params: dict = {}
    if source.icc_profile and image.mode not in ("L", "LA", "I;16") and fmt != "GIF":
        params["icc_profile"] = source.icc_profile
    if source.exif and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        params["exif"] = source.exif
    if fmt == "JPEG":
        params.update(quality=95, subsampling=0, optimize=True)
    elif fmt == "WEBP":
        params.update(quality=95, method=4)
    elif fmt == "PNG":
        params.update(compress_level=6)
    elif fmt == "TIFF":
        params.update(compression="tiff_lzw")
    elif fmt == "GIF":
        image = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    image.save(out, format=fmt, **params)
    return fmt


def encode_to_bytes(image: Image.Image, source: SourceImage) -> tuple[bytes, str]:
    """:func:`encode` into memory; returns (file bytes, format)."""
    buf = io.BytesIO()
    fmt = encode(image, source, buf)
    return buf.getvalue(), fmt
