"""Hostile uploads, built in code, through the API and (for a sample) the dashboard's session (issue #11).

Each file gets a correct result, or a 4xx with a clear message in the envelope; never a 500,
never a job left ``processing``, never a stored file without its record, and the web
process's memory never grows by more than the file's size (headers are read, pixels are not).
Accepted files are then processed by the worker's task, here in the test process.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import pytest
from django.test import Client
from PIL import Image as PILImage
from PIL import ImageCms
from skimage import data

from images import tasks
from images.models import Image
from upscaler_site.testing import client_for, png_chunk

pytestmark = pytest.mark.django_db

URL = "/api/images/upscale"
#: What the web process may grow by beyond the file itself (Python's and the allocator's own churn).
MEMORY_SLACK = 24 * 2**20


def saved(img: PILImage.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **params)
    return buffer.getvalue()


def cat(size: tuple[int, int] = (48, 36)) -> PILImage.Image:
    return PILImage.fromarray(data.chelsea()).resize(size)


def inflating(size: int) -> bytes:
    """``size`` bytes of one letter, deflated to a few hundred kilobytes at most."""
    compressor = zlib.compressobj(9)
    block = b"a" * 2**20
    return b"".join(compressor.compress(block) for _ in range(size // len(block))) + compressor.flush()


def png_with(extra: bytes) -> bytes:
    """A small valid PNG with ``extra`` chunks right after its header."""
    png = saved(cat(), "PNG")
    return png[:33] + extra + png[33:]


def huge_header() -> bytes:
    """A PNG whose header says 30000x30000 (900 MP) over a few bytes of pixel data."""
    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def sixteen_bit_gray() -> bytes:
    ramp = (np.linspace(0, 65535, 48 * 36).reshape(36, 48)).astype(np.uint16)
    return saved(PILImage.fromarray(ramp), "PNG")  # uint16: mode I;16


def palette_with_transparency() -> bytes:
    img = cat().convert("P", palette=PILImage.Palette.ADAPTIVE, colors=16)
    return saved(img, "PNG", transparency=0)


def animated(fmt: str) -> bytes:
    frames = [cat(), cat().transpose(PILImage.Transpose.FLIP_LEFT_RIGHT)]
    return saved(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100)


def exif_rotated() -> bytes:
    exif = PILImage.Exif()
    exif[0x0112] = 6
    return saved(cat((48, 36)), "JPEG", exif=exif.tobytes())


def cmyk_jpeg() -> bytes:
    return saved(cat().convert("CMYK"), "JPEG")


def ycck_jpeg() -> bytes:
    """An Adobe CMYK JPEG (libjpeg writes four-channel JPEGs as YCCK under an Adobe marker)."""
    profile = ImageCms.createProfile("sRGB")
    return saved(cat().convert("CMYK"), "JPEG", icc_profile=ImageCms.ImageCmsProfile(profile).tobytes())


def many_pages_tiff() -> bytes:
    return saved(cat(), "TIFF", save_all=True, append_images=[cat()] * 40)


def bmp_negative_height() -> bytes:
    """A top-down BMP: its header's height is negative."""
    bmp = bytearray(saved(cat(), "BMP"))
    height = struct.unpack_from("<i", bmp, 22)[0]
    struct.pack_into("<i", bmp, 22, -height)
    rows = 36
    stride = len(bmp[54:]) // rows
    pixels = [bmp[54 + i * stride : 54 + (i + 1) * stride] for i in range(rows)]
    bmp[54:] = b"".join(reversed(pixels))
    return bytes(bmp)


def webp_alpha() -> bytes:
    img = cat().convert("RGBA")
    img.putalpha(128)
    return saved(img, "WEBP", lossless=True)


def polyglot_text() -> bytes:
    """A valid PNG whose text chunk is an HTML page."""
    return png_with(png_chunk(b"tEXt", b"Comment\x00<html><script>alert(document.cookie)</script></html>"))


def polyglot_trailer() -> bytes:
    """A PNG with an HTML page after its end."""
    return saved(cat(), "PNG") + b"<html><script>alert(document.cookie)</script>" + b" " * 200 + b"</html>"


@dataclass(frozen=True)
class Case:
    make: Callable[[], bytes]
    name: str = "upload.png"
    #: "completed", "failed" (in the worker) or the message a 4xx must contain.
    expect: str = "completed"


CASES: dict[str, Case] = {
    "truncated PNG": Case(lambda: saved(cat(), "PNG")[:-300], expect="truncated or corrupt"),
    "truncated JPEG": Case(lambda: saved(cat(), "JPEG")[:-200], "cut.jpg", expect="truncated or corrupt"),
    "zero bytes": Case(lambda: b"", expect="empty"),
    "1x1": Case(lambda: saved(PILImage.new("RGB", (1, 1), "red"), "PNG")),
    "30000x30000 header": Case(huge_header, expect="too many pixels"),
    "huge zTXt chunk": Case(
        lambda: png_with(png_chunk(b"zTXt", b"Comment\x00\x00" + inflating(64 * 2**20))), expect="not a valid image"
    ),
    "huge iCCP chunk": Case(
        lambda: png_with(png_chunk(b"iCCP", b"icc\x00\x00" + inflating(64 * 2**20))), expect="not a valid image"
    ),
    "SVG renamed .png": Case(
        lambda: b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', expect="not a valid image"
    ),
    "HTML renamed .png": Case(lambda: b"<!doctype html><script>alert(1)</script>", expect="not a valid image"),
    "PNG/HTML polyglot (text chunk)": Case(polyglot_text, "polyglot.html"),
    "PNG/HTML polyglot (trailer)": Case(polyglot_trailer, "polyglot.html", expect="truncated or corrupt"),
    "CMYK JPEG": Case(cmyk_jpeg, "cmyk.jpg"),
    "YCCK JPEG": Case(ycck_jpeg, "ycck.jpg"),
    "16-bit grayscale PNG": Case(sixteen_bit_gray),
    "palette PNG with transparency": Case(palette_with_transparency),
    "animated GIF": Case(lambda: animated("GIF"), "moving.gif", expect="Animated images are not supported"),
    "APNG": Case(lambda: animated("PNG"), expect="Animated images are not supported"),
    "EXIF-rotated JPEG": Case(exif_rotated, "rotated.jpg"),
    "TIFF with many pages": Case(many_pages_tiff, "pages.tiff", expect="Multi-page TIFF files are not supported"),
    "BMP with a negative height": Case(bmp_negative_height, "topdown.bmp"),
    "WebP with alpha": Case(webp_alpha, "alpha.webp"),
    "hostile filename": Case(lambda: saved(cat(), "PNG"), '../"quoted" <script>alert(1)</script>' + "x" * 300 + ".png"),
}


def stored_files(media_root: Path) -> set[str]:
    root = media_root / "images"
    return {str(path.relative_to(media_root)) for path in root.rglob("*") if path.is_file()} if root.exists() else set()


def recorded_files() -> set[str]:
    names: set[str] = set()
    for image in Image.objects.all():
        for field in (image.original, image.upscaled, image.original_thumbnail, image.result_thumbnail):
            if field and field.name:
                names.add(field.name)
    return names


def post(client, case: Case):
    upload = io.BytesIO(case.make())
    upload.name = case.name
    before = psutil.Process().memory_info().rss
    response = client.post(URL, {"image": upload, "model": "anime-fast"})
    grown = psutil.Process().memory_info().rss - before
    return response, grown, len(upload.getvalue())


@pytest.fixture
def api(user, django_capture_on_commit_callbacks):
    client = client_for(user)
    # Warm the upload path up once, so that first-use imports are not counted as growth.
    warm = io.BytesIO(saved(cat(), "PNG"))
    warm.name = "warm.png"
    client.post(URL, {"image": warm, "model": "anime-fast"})
    with django_capture_on_commit_callbacks(execute=True):
        Image.objects.all().delete()  # its files go once the delete commits
    return client


@pytest.mark.parametrize("label", CASES)
def test_a_hostile_upload_through_the_api(api, media_root, django_capture_on_commit_callbacks, label):
    case = CASES[label]
    with django_capture_on_commit_callbacks(execute=True):
        response, grown, size = post(api, case)
    assert response.status_code != 500
    assert grown < size + MEMORY_SLACK, f"the web process grew by {grown / 2**20:.0f} MiB for {size} bytes"
    body = response.json()
    if case.expect not in ("completed", "failed"):
        assert 400 <= response.status_code < 500 and body["success"] is False, body
        shown = " ".join([body["message"], *(m for messages in body["errors"].values() for m in messages)])
        assert case.expect in shown, body
        assert not Image.objects.exists()
    else:
        assert response.status_code == 202, body
        image_id = body["data"]["id"]
        tasks.upscale_image(image_id)
        image = Image.objects.get(pk=image_id)
        assert image.status == case.expect, image.error
        if image.status == "completed":
            assert image.upscaled_width and image.upscaled_height
        else:
            assert image.error
    assert stored_files(media_root) <= recorded_files()  # nothing stored without its record


def test_exif_rotation_is_applied_before_upscaling(api):
    response, _, _ = post(api, CASES["EXIF-rotated JPEG"])
    data = response.json()["data"]
    assert (data["original_width"], data["original_height"]) == (36, 48)


def test_a_multipart_body_with_5000_fields_is_a_clear_400(api):
    fields = {f"field{n}": "x" for n in range(5000)}
    upload = io.BytesIO(saved(cat(), "PNG"))
    upload.name = "cat.png"
    response = api.post(URL, {"image": upload, **fields})
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert not Image.objects.exists()


@pytest.mark.parametrize("label", ["truncated PNG", "SVG renamed .png", "30000x30000 header", "hostile filename"])
def test_a_sample_through_the_dashboards_session(user, media_root, label):
    """The dashboard's upload page posts to the same endpoint with the login session and the CSRF token."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    browser.get("/upload")
    upload = io.BytesIO(CASES[label].make())
    upload.name = CASES[label].name
    response = browser.post(URL, {"image": upload, "model": "anime-fast"},
                            HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value)  # fmt: skip
    assert response.status_code != 500
    if CASES[label].expect == "completed":
        assert response.status_code == 202
        assert "<script>" not in response.json()["data"]["original_filename"]
        page = browser.get(f"/images/{response.json()['data']['id']}").content.decode()
        assert "<script>alert(1)</script>" not in page
    else:
        assert response.status_code == 422 and CASES[label].expect in str(response.json())
    assert stored_files(media_root) <= recorded_files()
