"""User files are never served as the site's own content (security, issue #11 item 1).

A member who uploads a PNG carrying a script, named ``evil.html``, must not get a page
on the app's origin that runs it: files are stored under generated names with the
decoded format's extension and served with that format's type, ``nosniff`` and a
sandboxing CSP; inline only for images browsers show.
"""

from __future__ import annotations

import io
import zipfile

import pytest
from django.test import Client
from django.urls import reverse
from PIL import Image as PILImage
from PIL import PngImagePlugin

from images import jobs
from images.files import safe_filename
from images.models import Image
from images.thumbnails import preview_jpeg
from upscaler_site.testing import client_for, photo

pytestmark = pytest.mark.django_db

SCRIPT = "<script>fetch('/tokens',{method:'POST'})</script>"


def evil_png() -> io.BytesIO:
    """A valid PNG whose text chunk is an HTML page, named like one."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", f"<html><body>{SCRIPT}</body></html>")
    buffer = io.BytesIO()
    photo(size=(40, 30)).save(buffer, "PNG", pnginfo=info)
    buffer.seek(0)
    buffer.name = "evil.html"
    return buffer


def assert_hardened(response, content_type: str, *, inline: bool | None) -> None:
    """``inline``: True or False for the disposition, None for a file we render ourselves (a thumbnail)."""
    assert response["Content-Type"] == content_type
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    if inline is not None:
        disposition = response.get("Content-Disposition", "")
        assert disposition.startswith("inline" if inline else "attachment"), disposition


@pytest.fixture
def evil(user) -> Image:
    response = client_for(user).post("/api/images/upscale", {"image": evil_png(), "scale_factor": "2"})
    assert response.status_code == 202, response.json()
    image = Image.objects.get(pk=response.json()["data"]["id"])
    jobs.claim(image)
    result = io.BytesIO()
    photo(size=(80, 60)).save(result, "PNG")
    result.seek(0)
    jobs.complete(image, result, "png", width=80, height=60, fmt="PNG", scale_chain=[4], seconds=0.1)
    image.store_thumbnail("original_thumbnail", preview_jpeg(photo(size=(40, 30))))  # as the worker does
    image.refresh_from_db()
    return image


def test_an_upload_named_html_is_stored_under_a_generated_png_name(evil):
    assert evil.original.name == f"images/{evil.pk}/original.png"
    assert evil.original_filename == "evil.html"  # data: shown escaped, sent sanitised


def test_every_user_file_is_served_as_its_image_format(user, evil):
    browser = Client()
    browser.force_login(user)
    original = browser.get(reverse("images_web:original", args=[evil.pk]))
    assert_hardened(original, "image/png", inline=True)
    assert SCRIPT.encode() in b"".join(original.streaming_content)  # the bytes are the upload's, but inert
    assert_hardened(browser.get(reverse("images_web:result", args=[evil.pk])), "image/png", inline=True)
    assert_hardened(browser.get(reverse("images_web:download", args=[evil.pk])), "image/png", inline=False)
    assert_hardened(browser.get(reverse("images_web:thumbnail", args=[evil.pk])), "image/jpeg", inline=None)

    link = client_for(user).get(f"/api/images/{evil.pk}/download").json()["data"]["download_url"]
    assert_hardened(Client().get(link), "image/png", inline=False)


def test_formats_browsers_do_not_show_are_attachments_even_in_the_comparison_view(user):
    buffer = io.BytesIO()
    photo(size=(40, 30)).save(buffer, "TIFF")
    buffer.seek(0)
    buffer.name = "scan.tiff"
    data = client_for(user).post("/api/images/upscale", {"image": buffer}).json()["data"]
    browser = Client()
    browser.force_login(user)
    response = browser.get(reverse("images_web:original", args=[data["id"]]))
    assert_hardened(response, "image/tiff", inline=False)


def test_the_batch_archive_is_hardened_too(user):
    api = client_for(user)
    files = [evil_png(), evil_png()]
    data = api.post("/api/batches", {"images": files, "name": 'x"; filename=evil.html\r\n'}).json()["data"]
    for record in data["images"]:
        image = Image.objects.get(pk=record["id"])
        jobs.claim(image)
        result = io.BytesIO()
        photo(size=(80, 60)).save(result, "PNG")
        result.seek(0)
        jobs.complete(image, result, "png", width=80, height=60, fmt="PNG", scale_chain=[4], seconds=0.1)
    response = api.get(f"/api/batches/{data['id']}/archive")
    assert_hardened(response, "application/zip", inline=False)
    assert "evil.html" not in response["Content-Disposition"].split("filename=")[1].split(";")[0]
    names = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()
    assert all(name.endswith(".png") for name in names), names


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\photo.jpg", "photo.jpg"),
        ('a"b<script>.png', "a_b_script_.png"),
        ("line\r\nbreak.png", "line_break.png"),
        ("...", "image"),
        ("", "image"),
        ("x" * 300 + ".jpeg", "x" * 195 + ".jpeg"),
        ("café.png", "café.png"),
    ],
)
def test_safe_filename(name, expected):
    assert safe_filename(name) == expected


def test_a_hostile_name_is_kept_as_data_and_sent_safely(user):
    buffer = io.BytesIO()
    PILImage.new("RGB", (8, 8), "red").save(buffer, "PNG")
    buffer.seek(0)
    buffer.name = '../"quoted"\n<script>.png'
    data = client_for(user).post("/api/images/upscale", {"image": buffer}).json()["data"]
    assert data["original_filename"] == "_quoted_script_.png"
    browser = Client()
    browser.force_login(user)
    page = browser.get(reverse("images_web:detail", args=[data["id"]])).content.decode()
    assert "<script>.png" not in page
    response = browser.get(reverse("images_web:original", args=[data["id"]]))
    assert "\n" not in response["Content-Disposition"]


def test_deleting_an_image_kills_its_signed_links_at_once(user, evil):
    """Issue #11 item 11: a link handed out before the delete must not serve the file after it."""
    api = client_for(user)
    link = api.get(f"/api/images/{evil.pk}/download").json()["data"]["download_url"]
    assert Client().get(link).status_code == 200
    assert api.delete(f"/api/images/{evil.pk}").status_code == 200
    assert Client().get(link).status_code == 404
