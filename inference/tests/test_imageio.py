"""Tests for :mod:`inference.imageio`: validating uploads, orientation and metadata, planes, output formats.

No database and no model: every image is built in memory from a real photo
(skimage's chelsea) or from a few synthetic arrays where exact values matter.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms, JpegImagePlugin

from inference.imageio import (
    ALLOWED_FORMATS,
    FORMAT_CONTENT_TYPES,
    FORMAT_EXTENSIONS,
    WEBP_MAX_SIDE,
    ImageHeader,
    InvalidImage,
    Planes,
    SourceImage,
    encode,
    encode_to_bytes,
    merge_planes,
    open_image,
    output_format,
    probe_image,
    split_planes,
    to_uint,
)
from upscaler_site.testing import bilevel_png, photo
from upscaler_site.testing import encode as encode_file

LIMIT = 10_000_000
ORIENTATION = 0x0112


@pytest.fixture(scope="module")
def cat() -> Image.Image:
    """A 64x48 crop (not a resize) of the real photo: fine detail, no symmetry."""
    return photo(crop=(150, 60, 214, 108))


def _frames(cat: Image.Image) -> list[Image.Image]:
    return [cat, cat.transpose(Image.Transpose.FLIP_LEFT_RIGHT), cat.transpose(Image.Transpose.FLIP_TOP_BOTTOM)]


# --- open_image: what is accepted -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ALLOWED_FORMATS)
def test_open_every_allowed_format(cat, fmt):
    source = open_image(encode_file(cat, fmt), max_pixels=LIMIT)

    assert isinstance(source, SourceImage)
    assert source.format == fmt
    assert source.size == (64, 48)
    source.image.getpixel((0, 0))  # decoded, usable after the file is gone
    assert fmt in FORMAT_EXTENSIONS and fmt in FORMAT_CONTENT_TYPES


def test_open_from_path(cat, tmp_path):
    path = tmp_path / "cat.png"
    cat.save(path)

    source = open_image(str(path), max_pixels=LIMIT)

    assert source.format == "PNG"
    assert np.array_equal(np.asarray(source.image), np.asarray(cat))


def test_multi_picture_jpeg_is_a_jpeg(cat):
    """Phone photos carry extra pictures (depth, HDR gain map): Pillow says MPO; it is the first picture."""
    buf = io.BytesIO()
    cat.save(buf, "MPO", save_all=True, append_images=[cat.resize((32, 24))])
    buf.seek(0)
    assert Image.open(buf).format == "MPO"
    buf.seek(0)

    source = open_image(buf, max_pixels=LIMIT)

    assert source.format == "JPEG"
    assert source.size == (64, 48)


def test_at_exactly_max_pixels_is_accepted(cat):
    assert open_image(encode_file(cat), max_pixels=64 * 48).size == (64, 48)


# --- open_image: what is refused --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"hello, world", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, bytes(range(256)) * 8],
    ids=["empty", "text", "png-signature-only", "noise"],
)
def test_not_an_image(data):
    with pytest.raises(InvalidImage, match="not a valid image"):
        open_image(io.BytesIO(data), max_pixels=LIMIT)


@pytest.mark.parametrize("fmt", ["PPM", "ICO", "TGA", "PCX"])
def test_disallowed_format(cat, fmt):
    with pytest.raises(InvalidImage, match=f"Unsupported image format {fmt}"):
        open_image(encode_file(cat, fmt), max_pixels=LIMIT)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file(cat, fmt):
    data = encode_file(cat, fmt).getvalue()
    truncated = io.BytesIO(data[: len(data) // 2])

    with pytest.raises(InvalidImage, match="truncated or corrupt"):
        open_image(truncated, max_pixels=LIMIT)


def test_corrupt_png_checksum(cat):
    data = bytearray(encode_file(cat, "PNG").getvalue())
    idat = data.index(b"IDAT")
    data[idat + 20] ^= 0xFF  # inside the compressed pixels

    with pytest.raises(InvalidImage, match="truncated or corrupt"):
        open_image(io.BytesIO(bytes(data)), max_pixels=LIMIT)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG", "TIFF"])
def test_animated_or_multi_frame_rejected(cat, fmt):
    first, *rest = _frames(cat)
    buf = encode_file(first, fmt, save_all=True, append_images=rest, duration=100)
    assert Image.open(buf).n_frames == 3
    buf.seek(0)

    with pytest.raises(InvalidImage, match="Multi-page TIFF" if fmt == "TIFF" else "Animated"):
        open_image(buf, max_pixels=LIMIT)


def test_single_frame_gif_and_webp_saved_as_animation_accepted(cat):
    for fmt in ("GIF", "WEBP"):
        buf = encode_file(cat, fmt, save_all=True, append_images=[], duration=100)
        assert open_image(buf, max_pixels=LIMIT).size == (64, 48)


def test_max_pixels_exceeded(cat):
    with pytest.raises(InvalidImage, match=r"64x48 .*at most"):
        open_image(encode_file(cat), max_pixels=64 * 48 - 1)


def test_max_pixels_refused_before_decoding(cat, no_decoding):
    with pytest.raises(InvalidImage, match="at most"):
        open_image(encode_file(cat), max_pixels=100)
    assert no_decoding == []


def test_decompression_bomb_refused_without_decoding(no_decoding):
    """A 20000x20000 1-bit PNG: 400 MP of pixels in a ~50 kB file; refused from its header alone."""
    bomb = bilevel_png(20000, 20000)
    assert len(bomb) < 200_000

    # Even when our own limit would allow it, Pillow's bomb check refuses it.
    for max_pixels in (LIMIT, 10**12):
        with pytest.raises(InvalidImage, match="too many pixels"):
            open_image(io.BytesIO(bomb), max_pixels=max_pixels)
    assert no_decoding == []


def test_pillow_bomb_warning_is_a_refusal(no_decoding):
    """Between Pillow's MAX_IMAGE_PIXELS and twice that Pillow only warns; we refuse."""
    side = int((Image.MAX_IMAGE_PIXELS * 1.2) ** 0.5)
    data = bilevel_png(side, side)

    with pytest.raises(InvalidImage, match="too many pixels"):
        open_image(io.BytesIO(data), max_pixels=10**12)
    assert no_decoding == []


def test_no_decoding_spy_sees_decoding(cat, no_decoding):
    """The refusals above would have noticed a decode: the spy is in the path open_image takes."""
    with pytest.raises(AssertionError, match="decoded"):
        open_image(encode_file(cat), max_pixels=LIMIT)
    assert no_decoding == ["PNG"]


def test_small_bilevel_png_is_accepted():
    """The hand-built PNG is valid: the refusals above are about its size, not its bytes."""
    source = open_image(io.BytesIO(bilevel_png(40, 30)), max_pixels=LIMIT)
    assert source.image.mode == "1"
    assert source.size == (40, 30)


# --- probing the header -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ALLOWED_FORMATS)
def test_probe_reads_the_header_without_decoding(cat, fmt, no_decoding):
    header = probe_image(encode_file(cat, fmt), max_pixels=LIMIT)
    assert header == ImageHeader(format=fmt, size=(64, 48), mode=header.mode, frames=1)
    assert header.megapixels == pytest.approx(64 * 48 / 1e6)
    assert no_decoding == []


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_probe_applies_the_exif_orientation_to_the_size(cat, fmt, no_decoding):
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    header = probe_image(encode_file(cat, fmt, exif=exif.tobytes()), max_pixels=LIMIT)
    assert header.size == (48, 64)
    assert no_decoding == []


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP", "BMP"])
def test_probe_sees_a_file_cut_short_from_its_last_bytes(cat, fmt, no_decoding):
    data = encode_file(cat, fmt).getvalue()
    # (Pillow itself cannot read the header of a WebP cut this short.)
    with pytest.raises(InvalidImage, match=r"truncated or corrupt|not a valid image"):
        probe_image(io.BytesIO(data[: len(data) * 3 // 4]), max_pixels=LIMIT)
    assert no_decoding == []


def test_probe_refuses_what_open_refuses_before_decoding(cat, no_decoding):
    with pytest.raises(InvalidImage, match="not a valid image"):
        probe_image(io.BytesIO(b"<svg/>"), max_pixels=LIMIT)
    with pytest.raises(InvalidImage, match="Unsupported image format"):
        probe_image(encode_file(cat, "PPM"), max_pixels=LIMIT)
    with pytest.raises(InvalidImage, match="Animated"):
        probe_image(encode_file(cat, "GIF", save_all=True, append_images=_frames(cat)[1:]), max_pixels=LIMIT)
    with pytest.raises(InvalidImage, match="at most"):
        probe_image(encode_file(cat), max_pixels=100)
    with pytest.raises(InvalidImage, match="too many pixels"):
        probe_image(io.BytesIO(bilevel_png(20000, 20000)), max_pixels=10**12)
    assert no_decoding == []


# --- orientation and metadata -----------------------------------------------------------------------------


def _jpeg_with_orientation(img: Image.Image, orientation: int) -> io.BytesIO:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "Acme"  # Make: a tag that must survive
    return encode_file(img, "JPEG", quality=95, exif=exif.tobytes())


@pytest.mark.parametrize(
    ("orientation", "transpose"),
    [
        (3, Image.Transpose.ROTATE_180),
        (6, Image.Transpose.ROTATE_270),
        (8, Image.Transpose.ROTATE_90),
        (2, Image.Transpose.FLIP_LEFT_RIGHT),
    ],
)
def test_exif_orientation_applied(cat, orientation, transpose):
    buf = _jpeg_with_orientation(cat, orientation)
    stored = Image.open(io.BytesIO(buf.getvalue()))
    stored.load()

    source = open_image(buf, max_pixels=LIMIT)

    assert np.array_equal(np.asarray(source.image), np.asarray(stored.transpose(transpose)))


def test_exif_orientation_6_rotates_and_resets_tag(cat):
    source = open_image(_jpeg_with_orientation(cat, 6), max_pixels=LIMIT)

    assert source.size == (48, 64)  # stored 64x48, displayed rotated by 90 degrees
    assert source.exif is not None
    exif = Image.Exif()
    exif.load(source.exif)
    assert exif.get(ORIENTATION, 1) == 1
    assert exif[0x010F] == "Acme"


def test_exif_orientation_applied_once_through_encode(cat):
    """Encoding the oriented image and opening the result again does not rotate it a second time."""
    source = open_image(_jpeg_with_orientation(cat, 6), max_pixels=LIMIT)

    for fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        buf = io.BytesIO()
        encode(source.image, source, buf, fmt=fmt)
        buf.seek(0)
        again = open_image(buf, max_pixels=LIMIT)
        assert again.size == (48, 64), fmt
        assert again.image.getexif().get(ORIENTATION, 1) == 1, fmt


def test_no_exif_gives_none(cat):
    assert open_image(encode_file(cat, "PNG"), max_pixels=LIMIT).exif is None


@pytest.fixture(scope="module")
def icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_icc_profile_kept_through_encode(cat, icc, fmt):
    source = open_image(encode_file(cat, fmt, icc_profile=icc), max_pixels=LIMIT)
    assert source.icc_profile == icc

    data, written = encode_to_bytes(source.image.resize((128, 96)), source)

    assert written == fmt
    out = Image.open(io.BytesIO(data))
    assert out.size == (128, 96)
    assert out.info.get("icc_profile") == icc


def test_rgb_icc_profile_not_put_on_grayscale_output(cat, icc):
    source = open_image(encode_file(cat, "PNG", icc_profile=icc), max_pixels=LIMIT)
    gray = Image.fromarray(np.asarray(source.image.convert("L")))  # a new image, as the pipeline makes
    data, _ = encode_to_bytes(gray, source)
    assert Image.open(io.BytesIO(data)).info.get("icc_profile") is None


# --- split_planes / merge_planes --------------------------------------------------------------------------


def _reassemble(planes: Planes) -> Image.Image:
    """What the pipeline does after the model: float planes back to images, then merge."""
    if planes.bits == 16:
        color = Image.fromarray(to_uint(planes.color[:, :, 0], 16))
    else:
        color = Image.fromarray(to_uint(planes.color, 8))
    alpha = None if planes.alpha is None else Image.fromarray(to_uint(planes.alpha, 8))
    return merge_planes(color, alpha, planes.mode)


def _check_planes(planes: Planes, size: tuple[int, int]) -> None:
    width, height = size
    assert planes.color.shape == (height, width, 3)
    assert planes.color.dtype == np.float32
    assert planes.color.min() >= 0.0 and planes.color.max() <= 1.0
    if planes.alpha is not None:
        assert planes.alpha.shape == (height, width)
        assert planes.alpha.dtype == np.float32


@pytest.fixture(scope="module")
def alpha_mask() -> Image.Image:
    """A 64x48 alpha with every level from fully transparent to opaque."""
    ramp = np.linspace(0, 255, 64 * 48).reshape(48, 64)
    return Image.fromarray(np.rint(ramp).astype(np.uint8))


def test_planes_rgb(cat):
    planes = split_planes(cat)
    _check_planes(planes, cat.size)
    assert (planes.mode, planes.bits, planes.alpha) == ("RGB", 8, None)
    out = _reassemble(planes)
    assert out.mode == "RGB"
    assert np.array_equal(np.asarray(out), np.asarray(cat))


def test_planes_rgba_keeps_alpha(cat, alpha_mask):
    rgba = cat.copy()
    rgba.putalpha(alpha_mask)

    planes = split_planes(rgba)

    _check_planes(planes, rgba.size)
    assert planes.mode == "RGBA"
    assert np.array_equal(to_uint(planes.alpha, 8), np.asarray(alpha_mask))
    out = _reassemble(planes)
    assert out.mode == "RGBA"
    assert np.array_equal(np.asarray(out), np.asarray(rgba))


def test_planes_l(cat):
    gray = cat.convert("L")
    planes = split_planes(gray)
    _check_planes(planes, gray.size)
    assert planes.mode == "L"
    assert np.array_equal(planes.color[:, :, 0], planes.color[:, :, 2])
    out = _reassemble(planes)
    assert out.mode == "L"
    assert np.array_equal(np.asarray(out), np.asarray(gray))


def test_planes_la(cat, alpha_mask):
    la = cat.convert("LA")
    la.putalpha(alpha_mask)
    planes = split_planes(la)
    _check_planes(planes, la.size)
    assert planes.mode == "LA"
    out = _reassemble(planes)
    assert out.mode == "LA"
    assert np.array_equal(np.asarray(out), np.asarray(la))


def test_planes_bilevel():
    img = Image.fromarray(np.indices((24, 24)).sum(axis=0) % 2 == 0)
    assert img.mode == "1"
    planes = split_planes(img)
    assert planes.mode == "L"
    out = _reassemble(planes)
    assert np.array_equal(np.asarray(out), np.asarray(img.convert("L")))


def test_planes_palette_without_transparency(cat):
    pal = cat.quantize(64)
    planes = split_planes(pal)
    _check_planes(planes, pal.size)
    assert (planes.mode, planes.alpha) == ("RGB", None)
    out = _reassemble(planes)
    assert np.array_equal(np.asarray(out), np.asarray(pal.convert("RGB")))


def test_planes_palette_with_transparency_from_gif(cat):
    pal = cat.quantize(64)
    transparent_index = pal.getpixel((10, 10))
    source = open_image(encode_file(pal, "GIF", transparency=transparent_index), max_pixels=LIMIT)
    assert source.image.mode == "P"

    planes = split_planes(source.image)

    assert planes.mode == "RGBA"
    expected = np.asarray(source.image.convert("RGBA"))
    assert planes.alpha[10, 10] == 0.0
    assert 0 < (planes.alpha == 0).sum() < planes.alpha.size
    assert np.array_equal(np.asarray(_reassemble(planes)), expected)


def test_planes_cmyk(cat):
    cmyk = open_image(encode_file(cat.convert("CMYK"), "JPEG", quality=95), max_pixels=LIMIT).image
    assert cmyk.mode == "CMYK"
    planes = split_planes(cmyk)
    _check_planes(planes, cmyk.size)
    assert planes.mode == "RGB"
    out = _reassemble(planes)
    assert out.mode == "RGB"
    assert np.array_equal(np.asarray(out), np.asarray(cmyk.convert("RGB")))


def test_planes_16_bit_gray_keeps_16_bits():
    # Values that are not multiples of 257: 8 bits cannot hold them.
    values = (np.arange(32 * 24, dtype=np.uint32) * 85 + 3).reshape(24, 32).astype(np.uint16)
    source = open_image(encode_file(Image.fromarray(values), "PNG"), max_pixels=LIMIT)
    assert source.image.mode in ("I;16", "I")

    planes = split_planes(source.image)

    _check_planes(planes, (32, 24))
    assert (planes.mode, planes.bits, planes.alpha) == ("I;16", 16, None)
    out = _reassemble(planes)
    assert out.mode == "I;16"
    assert np.array_equal(np.asarray(out), values)
    # And through the encoder: still 16 bits in the file.
    data, fmt = encode_to_bytes(out, source)
    assert fmt == "PNG"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))).astype(np.uint16), values)


def test_to_uint_rounds_and_clips():
    arr = np.array([-0.5, 0.0, 0.6 / 255, 0.499, 1.0, 2.0], dtype=np.float32)
    assert to_uint(arr, 8).tolist() == [0, 0, 1, 127, 255, 255]
    assert to_uint(arr, 16).dtype == np.uint16
    assert to_uint(arr, 16).tolist() == [0, 0, 154, 32702, 65535, 65535]


# --- output_format and encode -----------------------------------------------------------------------------


def _blank(mode: str, size: tuple[int, int] = (8, 8)) -> Image.Image:
    return Image.new(mode, size)


@pytest.mark.parametrize("fmt", ALLOWED_FORMATS)
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_output_keeps_the_input_format(fmt, mode):
    assert output_format(fmt, _blank(mode)) == fmt


@pytest.mark.parametrize(
    ("fmt", "mode", "expected"),
    [
        ("JPEG", "RGBA", "PNG"),
        ("JPEG", "LA", "PNG"),
        ("BMP", "RGBA", "PNG"),
        ("GIF", "RGBA", "PNG"),
        ("GIF", "LA", "PNG"),
        ("PNG", "RGBA", "PNG"),
        ("WEBP", "RGBA", "WEBP"),
        ("TIFF", "RGBA", "TIFF"),
        ("TIFF", "LA", "TIFF"),
        ("PNG", "I;16", "PNG"),
        ("TIFF", "I;16", "TIFF"),
        ("JPEG", "I;16", "PNG"),
        ("WEBP", "I;16", "PNG"),
        ("BMP", "I;16", "PNG"),
        ("GIF", "I;16", "PNG"),
    ],
)
def test_output_format_rules(fmt, mode, expected):
    assert output_format(fmt, _blank(mode)) == expected


def test_webp_too_large_for_webp_falls_back_to_png():
    assert output_format("WEBP", _blank("RGB", (WEBP_MAX_SIDE, 2))) == "WEBP"
    assert output_format("WEBP", _blank("RGB", (2, WEBP_MAX_SIDE + 1))) == "PNG"

    source = SourceImage(image=_blank("RGB"), format="WEBP")
    data, fmt = encode_to_bytes(_blank("RGB", (WEBP_MAX_SIDE + 1, 2)), source)
    assert fmt == "PNG"
    assert Image.open(io.BytesIO(data)).size == (WEBP_MAX_SIDE + 1, 2)


def test_jpeg_written_at_quality_90_by_default_or_as_asked_with_full_chroma(cat):
    source = open_image(encode_file(cat, "JPEG", quality=70), max_pixels=LIMIT)

    for quality in (None, 60):
        buf = io.BytesIO()
        assert encode(source.image, source, buf, quality=quality) == "JPEG"
        written = Image.open(io.BytesIO(buf.getvalue()))
        reference = Image.open(encode_file(cat, "JPEG", quality=quality or 90))
        assert written.quantization == reference.quantization
        assert JpegImagePlugin.get_sampling(written) == 0  # 4:4:4


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "I;16", "RGB;16"])
def test_every_asked_format_is_written_from_every_mode(cat, alpha_mask, fmt, mode):
    """``output_format``: JPEG flattens the alpha onto white; only PNG keeps 16 bits."""
    source = open_image(encode_file(cat, "PNG"), max_pixels=LIMIT)
    rgba = source.image.convert("RGBA")
    rgba.putalpha(alpha_mask)
    image: Image.Image | np.ndarray = {
        "RGB": source.image, "RGBA": rgba, "L": source.image.convert("L"), "LA": rgba.convert("LA"),
        "I;16": Image.fromarray(np.asarray(source.image.convert("L"), dtype=np.uint16) * 257),
        "RGB;16": np.asarray(source.image, dtype=np.uint16) * 257,
    }[mode]  # fmt: skip
    buf = io.BytesIO()
    assert encode(image, source, buf, fmt, quality=80) == fmt
    written = Image.open(io.BytesIO(buf.getvalue()))
    written.load()
    assert (written.format, written.size) == (fmt, (64, 48))
    if fmt == "JPEG" and mode in ("RGBA", "LA"):
        transparent = np.asarray(alpha_mask) == 0
        assert np.asarray(written.convert("L"))[transparent].min() > 200  # white where it was transparent
    if fmt == "PNG" and mode in ("I;16", "RGB;16"):
        assert buf.getvalue()[24] == 16  # IHDR bit depth: Pillow itself reads 16-bit RGB as 8


def test_webp_asked_for_a_too_large_image_is_refused(cat):
    source = open_image(encode_file(cat, "PNG"), max_pixels=LIMIT)
    with pytest.raises(ValueError, match="WebP images can be at most 16383"):
        encode(_blank("RGB", (WEBP_MAX_SIDE + 1, 2)), source, io.BytesIO(), "WEBP")


def test_jpeg_with_alpha_written_as_png(cat, alpha_mask):
    source = open_image(encode_file(cat, "JPEG"), max_pixels=LIMIT)
    rgba = source.image.copy()
    rgba.putalpha(alpha_mask)

    data, fmt = encode_to_bytes(rgba, source)

    assert fmt == "PNG"
    out = Image.open(io.BytesIO(data))
    assert out.format == "PNG" and out.mode == "RGBA"
    assert np.array_equal(np.asarray(out), np.asarray(rgba))


def test_gif_with_transparency_written_as_png(cat):
    pal = cat.quantize(64)
    source = open_image(encode_file(pal, "GIF", transparency=pal.getpixel((0, 0))), max_pixels=LIMIT)
    upscaled = _reassemble(split_planes(source.image))
    assert upscaled.mode == "RGBA"

    data, fmt = encode_to_bytes(upscaled, source)

    assert fmt == "PNG"
    assert Image.open(io.BytesIO(data)).mode == "RGBA"


def test_gif_without_transparency_stays_gif(cat):
    source = open_image(encode_file(cat.quantize(64), "GIF"), max_pixels=LIMIT)
    data, fmt = encode_to_bytes(_reassemble(split_planes(source.image)), source)
    assert fmt == "GIF"
    assert Image.open(io.BytesIO(data)).format == "GIF"


@pytest.mark.parametrize("fmt", ALLOWED_FORMATS)
def test_encode_roundtrip_every_format(cat, fmt):
    source = open_image(encode_file(cat, fmt), max_pixels=LIMIT)
    data, written = encode_to_bytes(source.image, source)
    assert written == fmt
    out = Image.open(io.BytesIO(data))
    assert out.format == fmt
    assert out.size == (64, 48)


def test_encode_explicit_format_overrides_source(cat):
    source = open_image(encode_file(cat, "PNG"), max_pixels=LIMIT)
    buf = io.BytesIO()
    assert encode(source.image, source, buf, fmt="JPEG") == "JPEG"
    assert Image.open(io.BytesIO(buf.getvalue())).format == "JPEG"
