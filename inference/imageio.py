"""Reading, validating and writing images: pixels in, pixels out, no Django.

An upload's header is checked with :func:`probe_image` (format, size, frames, no pixel
decoded) and the file is decoded with :func:`open_image`, which also checks that it
is a decodable, still image of an allowed format and size. :func:`split_planes` turns it into float
colour and alpha planes for the model; :func:`merge_planes` and :func:`encode`
turn the upscaled planes back into a file in the input's format.
"""

from __future__ import annotations

import functools
import io
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from PIL.TiffImagePlugin import TiffImageFile

from inference.auto import AutoChoice, choose_model, estimate_jpeg_quality
from inference.faces import Face

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


#: The EXIF tag that says how to rotate or flip the stored pixels for display (values 1-8).
ORIENTATION_TAG = 0x0112

#: The EXIF tags a result keeps unless asked to keep all: how to display it, nothing about who took
#: it, where, when or with what (GPS, camera and lens serials, owner, dates, maker notes go).
TECHNICAL_EXIF_TAGS = frozenset({ORIENTATION_TAG, 0x011A, 0x011B, 0x0128})  # + X/YResolution, ResolutionUnit

#: libwebp refuses to encode an image wider or taller than this.
WEBP_MAX_SIDE = 16383

#: Formats a request may ask the result in (``output_format``), besides keeping the input's.
OUTPUT_FORMATS = ("PNG", "JPEG", "WEBP")
#: Quality (1-100) of JPEG and WebP results when the request names none.
DEFAULT_QUALITY = 90


#: What Pillow's format parsers and decoders raise on damaged or hostile input, besides their own errors.
_PARSER_ERRORS: tuple[type[Exception], ...] = (
    OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError, TypeError, ZeroDivisionError, struct.error,
    MemoryError,
)  # fmt: skip
_OPEN_ERRORS: tuple[type[Exception], ...] = (UnidentifiedImageError, *_PARSER_ERRORS)
_DECODE_ERRORS: tuple[type[Exception], ...] = (
    Image.DecompressionBombError, Image.DecompressionBombWarning, *_PARSER_ERRORS
)  # fmt: skip


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
    info: dict[str | tuple[int, int], Any] = field(default_factory=dict)
    jpeg_quality: int | None = None
    #: (H, W, 3|4) uint16, orientation applied, for 16-bit RGB(A) PNG and TIFF, which
    #: Pillow can only read as 8 bits; ``image`` then holds an 8-bit copy.
    pixels16: np.ndarray | None = None

    @property
    def pixels(self) -> Image.Image | np.ndarray:
        """What to upscale: the 16-bit samples where the file has them, else the Pillow image."""
        return self.pixels16 if self.pixels16 is not None else self.image

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels, after orientation."""
        return self.image.size

    def auto_choice(self) -> AutoChoice:
        """The model ``auto`` picks for this image, and why (:func:`inference.auto.choose_model`).

        For a photo that would go to ``standard`` this runs the face detector, which
        imports PyTorch: call it in the worker or the ``upscale`` command, not the web tier.
        """
        return choose_model(self.image, self.format, self.jpeg_quality, faces=lambda: self.faces)

    @functools.cached_property
    def faces(self) -> list[Face]:
        """The faces in the image (:func:`inference.faces.detect_faces`), found on first use and kept, so that
        ``auto`` and the ``portrait`` model it picks look once. Imports PyTorch, like :meth:`auto_choice`."""
        from inference.faces import detect_faces

        return detect_faces(self.image)


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header says, read without decoding its pixels.

    ``size`` is (width, height) in pixels after the EXIF orientation; ``mode`` is
    Pillow's mode (``"RGB"``, ``"P"``, ``"I;16"`` …); ``frames`` is 1 for a still image.
    """

    format: str
    size: tuple[int, int]
    mode: str
    frames: int

    @property
    def megapixels(self) -> float:
        """Width x height in megapixels (10^6 pixels)."""
        return self.size[0] * self.size[1] / 1e6


def _open_checked(fp: str | BinaryIO, max_pixels: int) -> tuple[Image.Image, str]:
    """Open ``fp`` lazily (header only) and check it; returns (the Pillow image, its format).

    Raises:
        InvalidImage: see :func:`probe_image`.
    """
    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that; we refuse.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(fp)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise InvalidImage("The image has too many pixels.") from None
        except _OPEN_ERRORS:
            # A hostile header makes Pillow's parsers raise whatever their arithmetic hits
            # (a text or ICC chunk that inflates past its limit raises ValueError).
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
    try:
        frames = getattr(img, "n_frames", 1) if img.format != "MPO" else 1
    except _PARSER_ERRORS:
        raise InvalidImage("The image file is truncated or corrupt.") from None
    if frames > 1:
        what = "Multi-page TIFF files" if fmt == "TIFF" else "Animated images"
        raise InvalidImage(f"{what} are not supported; upload a single {'page' if fmt == 'TIFF' else 'frame'}.")
    return img, fmt


def _header_orientation(img: Image.Image) -> int:
    """The EXIF orientation (1-8) where the header carries it, without decoding pixels; else 1."""
    if img.format == "TIFF":
        return 1  # Pillow's TIFF reader reports the displayed size already (and rotates on load)
    try:
        if img.format == "PNG":
            # Pillow's PNG getexif() decodes the image to reach an eXIf chunk after the pixels.
            raw = img.info.get("exif")
            if not raw:
                return 1
            exif = Image.Exif()
            exif.load(raw)
        else:
            exif = img.getexif()
        return int(exif.get(ORIENTATION_TAG, 1))
    except Exception:  # a malformed EXIF block orients nothing; decoding reports real damage
        return 1


def _tail_and_length(fp: str | BinaryIO, size: int) -> tuple[bytes, int]:
    """The last ``size`` bytes of a path or file object, and its length in bytes."""
    if isinstance(fp, str):
        with open(fp, "rb") as fh:
            return _tail_and_length(fh, size)
    length = fp.seek(0, io.SEEK_END)
    fp.seek(max(0, length - size))
    tail = fp.read(size)
    fp.seek(0)
    return tail, length


def _is_cut_short(fp: str | BinaryIO, fmt: str) -> bool:
    """Whether the file visibly ends before its format says it does (a cheap check of its last bytes).

    PNG must close with an IEND chunk, GIF with its trailer, JPEG with an end-of-image
    marker near the end; a RIFF (WebP) or BMP file must be as long as its header says.
    Anything else is left to the decoder, in the worker.
    """
    tail, length = _tail_and_length(fp, 4096)
    if fmt == "PNG":
        return b"IEND" not in tail[-64:]
    if fmt == "GIF":
        return not tail.rstrip(b"\0").endswith(b";")
    if fmt == "JPEG":
        return b"\xff\xd9" not in tail
    head = _head(fp, 14)
    if fmt == "WEBP" and head[:4] == b"RIFF":
        return length < int.from_bytes(head[4:8], "little") + 8
    if fmt == "BMP" and head[:2] == b"BM":
        declared = int.from_bytes(head[2:6], "little")
        return bool(declared) and length < declared
    return False


def probe_image(fp: str | BinaryIO, *, max_pixels: int) -> ImageHeader:
    """Read and check an image file's header (and its last bytes) without decoding its pixels.

    Costs a few kilobytes of reading, not width x height x channels, so the web tier
    can refuse an upload before anything large is decoded. Damage inside the pixel
    data only shows when the worker decodes it (:func:`open_image`).

    Args:
        fp: a path or a binary file object positioned at the start of the file.
        max_pixels: the largest accepted width x height.

    Raises:
        InvalidImage: not an image, a format outside ``ALLOWED_FORMATS``, an
            animated image, no pixels, more than ``max_pixels``, or a file that
            visibly ends early (truncated).
    """
    img, fmt = _open_checked(fp, max_pixels)
    with img:
        width, height = img.size
        if _header_orientation(img) in (5, 6, 7, 8):
            width, height = height, width
        header = ImageHeader(format=fmt, size=(width, height), mode=img.mode, frames=getattr(img, "n_frames", 1))
    if _is_cut_short(fp, fmt):
        raise InvalidImage("The image file is truncated or corrupt.")
    return header


def open_image(fp: str | BinaryIO, *, max_pixels: int) -> SourceImage:
    """Open, validate and fully decode an image file.

    Args:
        fp: a path or a binary file object positioned at the start of the file.
        max_pixels: the largest accepted width x height; anything larger is
            refused before it is decoded (decompression-bomb protection).

    Returns:
        The decoded image with its format, ICC profile and EXIF, orientation applied.

    Raises:
        InvalidImage: what :func:`probe_image` refuses, or a truncated or corrupt file.
    """
    img, fmt = _open_checked(fp, max_pixels)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img.load()
        except _DECODE_ERRORS:
            raise InvalidImage("The image file is truncated or corrupt.") from None

    pixels16 = _read_rgb16(fp, img)
    info = dict(img.info)
    icc = info.get("icc_profile")
    # Read before the transpose below, which drops the quantisation tables.
    quality = estimate_jpeg_quality(img) if fmt == "JPEG" else None
    oriented = ImageOps.exif_transpose(img)
    exif = oriented.getexif()
    exif_bytes = exif.tobytes() if len(exif) else None
    if pixels16 is not None:
        pixels16 = _orient_like(pixels16, oriented, img.getexif().get(ORIENTATION_TAG, 1))
    return SourceImage(
        image=oriented,
        format=fmt,
        icc_profile=icc,
        exif=exif_bytes,
        info=info,
        jpeg_quality=quality,
        pixels16=pixels16,
    )


def _read_rgb16(fp: str | BinaryIO, img: Image.Image) -> np.ndarray | None:
    """The file's samples at 16 bits when it is a 16-bit RGB(A) PNG or TIFF, else None.

    Raises:
        InvalidImage: the 16-bit decoder cannot read the file.
    """
    if img.format == "PNG":
        header = _head(fp, 26)
        # IHDR: bit depth (byte 24) 16 with colour type (byte 25) 2 (RGB) or 6 (RGBA).
        if len(header) < 26 or header[24] != 16 or header[25] not in (2, 6):
            return None
    elif isinstance(img, TiffImageFile):
        bits = img.tag_v2.get(258, (8,))
        bits = bits if isinstance(bits, tuple) else (bits,)
        if img.tag_v2.get(277, 1) not in (3, 4) or any(b != 16 for b in bits):
            return None
    else:
        return None
    import imagecodecs

    data = _head(fp, None)
    try:
        pixels = imagecodecs.png_decode(data) if img.format == "PNG" else imagecodecs.tiff_decode(data)
    except Exception:  # imagecodecs raises a different error type per codec
        raise InvalidImage("The image file is truncated or corrupt.") from None
    if pixels.dtype != np.uint16 or pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
        return None
    return pixels


def _head(fp: str | BinaryIO, size: int | None) -> bytes:
    """The first ``size`` bytes of a path or file object (all of it for None)."""
    if isinstance(fp, str):
        with open(fp, "rb") as fh:
            return fh.read(size if size is not None else -1)
    fp.seek(0)
    return fp.read(size if size is not None else -1)


_ORIENTATIONS: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: np.swapaxes(a, 0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 1)[::-1],
    8: lambda a: np.rot90(a, 1),
}


def _orient_like(pixels: np.ndarray, preview: Image.Image, orientation: int) -> np.ndarray:
    """Orient 16-bit samples exactly like Pillow's 8-bit ``preview`` of the same file.

    Pillow's TIFF reader applies some orientations itself while still reporting the
    tag, so rather than second-guess it, the transform whose high bytes reproduce the
    preview wins; the EXIF ``orientation`` (1-8) decides only if none does.
    """
    target = np.asarray(preview.convert("RGB"))
    for op in [_ORIENTATIONS.get(orientation, _ORIENTATIONS[1]), *_ORIENTATIONS.values()]:
        candidate = op(pixels)
        if candidate.shape[:2] == target.shape[:2] and np.array_equal(candidate[:, :, :3] >> 8, target):
            return np.ascontiguousarray(candidate)
    return np.ascontiguousarray(_ORIENTATIONS.get(orientation, _ORIENTATIONS[1])(pixels))


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


def split_planes(img: Image.Image | np.ndarray) -> Planes:
    """Convert any supported Pillow image, or (H, W, 3|4) uint16 RGB(A) samples, to :class:`Planes`.

    Palette images become RGB (or RGBA when they have transparency), CMYK and
    YCbCr become RGB, grayscale stays grayscale on output; 16-bit grayscale and
    16-bit RGB(A) keep 16 bits (modes ``I;16``, ``RGB;16``, ``RGBA;16``).
    """
    if isinstance(img, np.ndarray):
        samples = img.astype(np.float32) / 65535.0
        alpha = samples[:, :, 3].copy() if samples.shape[2] == 4 else None
        mode = "RGBA;16" if alpha is not None else "RGB;16"
        return Planes(np.ascontiguousarray(samples[:, :, :3]), alpha, mode, bits=16)
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
    samples: np.ndarray = out.astype(np.uint16 if bits == 16 else np.uint8)
    return samples


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
        assert alpha is not None, "LA needs its alpha plane"
        out = color.convert("L").convert("LA")
        out.putalpha(alpha)
        return out
    if mode == "RGBA":
        assert alpha is not None, "RGBA needs its alpha plane"
        out = color.convert("RGBA")
        out.putalpha(alpha)
        return out
    return color.convert("RGB")


def resize_samples16(samples: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Lanczos resize of (H, W, C) uint16 samples to (width, height), channel by channel."""
    if (samples.shape[1], samples.shape[0]) == size:
        return samples
    channels = [np.asarray(resize_plane(Image.fromarray(samples[:, :, c]), size)) for c in range(samples.shape[2])]
    return np.stack(channels, axis=2)


def _png_with_icc(png: bytes, icc: bytes) -> bytes:
    """Insert an iCCP chunk right after IHDR (PNG spec 11.3.3.3); the 16-bit encoder writes none."""
    import zlib

    body = b"ICC profile\x00\x00" + zlib.compress(icc)
    chunk = struct.pack(">I", len(body)) + b"iCCP" + body + struct.pack(">I", zlib.crc32(b"iCCP" + body))
    ihdr_end = 8 + 4 + 4 + 13 + 4  # signature, length, type, IHDR data, CRC
    return png[:ihdr_end] + chunk + png[ihdr_end:]


def _encode_samples16(samples: np.ndarray, source: SourceImage, out: BinaryIO, fmt: str) -> str:
    if fmt == "TIFF":
        import tifffile

        tifffile.imwrite(out, samples, photometric="rgb", compression="zlib", iccprofile=source.icc_profile)
        return "TIFF"
    import imagecodecs

    png = bytes(imagecodecs.png_encode(samples, level=6))
    out.write(_png_with_icc(png, source.icc_profile) if source.icc_profile else png)
    return "PNG"


def output_format(source_format: str, image: Image.Image | np.ndarray) -> str:
    """The format the output is written in: the input's, or PNG where it cannot carry the alpha.

    16-bit RGB(A) samples (an array) are written as TIFF when the input was TIFF, else PNG.
    """
    if isinstance(image, np.ndarray):
        return "TIFF" if source_format == "TIFF" else "PNG"
    has_alpha = image.mode in ("RGBA", "LA")
    if has_alpha and source_format in ("JPEG", "BMP", "GIF"):
        return "PNG"
    if image.mode == "I;16" and source_format not in ("PNG", "TIFF"):
        return "PNG"
    if source_format == "WEBP" and max(image.size) > WEBP_MAX_SIDE:
        return "PNG"
    return source_format


def _exif_to_write(exif: bytes | None, keep_metadata: bool) -> bytes | None:
    """The source's EXIF for the result: all of it, or only :data:`TECHNICAL_EXIF_TAGS`."""
    if not exif or keep_metadata:
        return exif
    source, kept = Image.Exif(), Image.Exif()
    source.load(exif)
    for tag in TECHNICAL_EXIF_TAGS & set(source):
        kept[tag] = source[tag]
    return kept.tobytes() if len(kept) else None


def _convert_for(image: Image.Image | np.ndarray, fmt: str) -> Image.Image | np.ndarray:
    """``image`` in a mode ``fmt`` can write, when the format was asked for rather than kept.

    JPEG has no alpha: it is flattened onto white. Only PNG and TIFF carry 16 bits: the
    others get 8. Everything else is written as it is.
    """
    if isinstance(image, np.ndarray):  # 16-bit RGB(A) samples
        if fmt in ("PNG", "TIFF"):
            return image
        image = Image.fromarray(np.rint(image.astype(np.float32) / 257.0).astype(np.uint8))
    if image.mode == "I;16" and fmt not in ("PNG", "TIFF"):
        image = Image.fromarray(np.rint(np.asarray(image, dtype=np.float32) / 257.0).astype(np.uint8), "L")
    if fmt == "JPEG" and image.mode in ("RGBA", "LA", "P", "PA"):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image


def encode(
    image: Image.Image | np.ndarray,
    source: SourceImage,
    out: BinaryIO,
    fmt: str | None = None,
    *,
    quality: int | None = None,
    keep_metadata: bool = False,
) -> str:
    """Write the upscaled image in the input's format, or in ``fmt``; return the format written.

    Without ``fmt`` the input's format is kept, or PNG where it cannot carry the result
    (:func:`output_format`). A format asked for is written whatever the image: JPEG
    flattens the alpha onto white, formats other than PNG and TIFF reduce 16 bits to 8.
    JPEG (4:4:4 chroma) and WebP are written at ``quality`` (1-100, default
    :data:`DEFAULT_QUALITY`), GIF with an adaptive palette. The ICC profile is kept where
    the format can carry it; of the EXIF (its orientation already applied to the pixels),
    only the technical tags (:data:`TECHNICAL_EXIF_TAGS`) unless ``keep_metadata``: a
    photo's GPS position and camera serials do not travel on by default.

    Raises:
        ValueError: WebP asked for an image over :data:`WEBP_MAX_SIDE` pixels on a side.
    """
    if fmt is None:
        fmt = output_format(source.format, image)
    else:
        image = _convert_for(image, fmt)
    if isinstance(image, np.ndarray):
        return _encode_samples16(image, source, out, fmt)
    if fmt == "WEBP" and max(image.size) > WEBP_MAX_SIDE:
        raise ValueError(f"WebP images can be at most {WEBP_MAX_SIDE} pixels on a side.")
    quality = DEFAULT_QUALITY if quality is None else quality
    params: dict[str, Any] = {}
    if source.icc_profile and image.mode not in ("L", "LA", "I;16") and fmt != "GIF":
        params["icc_profile"] = source.icc_profile
    exif = _exif_to_write(source.exif, keep_metadata)
    if exif and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        params["exif"] = exif
    if fmt == "JPEG":
        params.update(quality=quality, subsampling=0, optimize=True)
    elif fmt == "WEBP":
        params.update(quality=quality, method=4)
    elif fmt == "PNG":
        params.update(compress_level=6)
    elif fmt == "TIFF":
        params.update(compression="tiff_lzw")
    elif fmt == "GIF":
        image = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    image.save(out, format=fmt, **params)
    return fmt


def encode_to_bytes(image: Image.Image | np.ndarray, source: SourceImage) -> tuple[bytes, str]:
    """:func:`encode` into memory; returns (file bytes, format)."""
    buf = io.BytesIO()
    fmt = encode(image, source, buf)
    return buf.getvalue(), fmt
