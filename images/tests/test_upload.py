"""POST /api/images/upscale: accepted uploads and every rejected input."""

from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage

from images.models import Image
from upscaler_site.testing import client_for, encode, photo

URL = "/api/images/upscale"

pytestmark = pytest.mark.django_db


def stored_files(media_root) -> list:
    return [p for p in media_root.rglob("*") if p.is_file()] if media_root.exists() else []


def test_upload_returns_202_with_the_pending_record(api, small_photo, media_root, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api.post(URL, {"image": encode(small_photo, "JPEG"), "scale_factor": "4"})

    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["success"] is True
    data = body["data"]
    assert data["status"] == "pending"
    assert data["original_filename"] == "photo.jpg"
    assert data["original_size"] > 0
    assert data["original_size_human"].endswith(("B", "KB"))
    assert (data["scale_factor"], data["output_width"], data["output_height"]) == (4, 160, 120)
    assert (data["target_width"], data["target_height"], data["api_request"]) == (None, None, True)
    assert data["created_at"] and data["updated_at"]
    assert data["download_url"] is None

    image = Image.objects.get(pk=data["id"])
    assert image.original_format == "JPEG"
    assert image.model == "standard"
    assert len(stored_files(media_root)) == 1
    assert len(callbacks) == 1
    image.refresh_from_db()
    assert image.task_id, "the upscale task was queued"


def test_default_scale_factor_is_2(api, small_photo):
    data = api.post(URL, {"image": encode(small_photo)}).json()["data"]
    assert (data["scale_factor"], data["output_width"], data["output_height"]) == (2, 80, 60)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"target_width": "100"}, (100, 75)),
        ({"target_height": "90"}, (120, 90)),
        ({"target_width": "150", "target_height": "100"}, (150, 100)),
    ],
)
def test_target_size_follows_the_aspect_ratio(api, small_photo, params, expected):
    response = api.post(URL, {"image": encode(small_photo), **params})
    assert response.status_code == 202, response.json()
    data = response.json()["data"]
    assert data["scale_factor"] is None
    assert (data["target_width"], data["target_height"]) == expected


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_every_allowed_format_is_accepted(api, small_photo, fmt):
    response = api.post(URL, {"image": encode(small_photo, fmt)})
    assert response.status_code == 202, response.json()
    assert Image.objects.get().original_format == fmt


def _bad_files() -> dict[str, tuple[io.BytesIO, str]]:
    text = io.BytesIO(b"this is not an image at all")
    text.name = "notes.png"
    truncated = encode(photo(), "JPEG")
    truncated = io.BytesIO(truncated.getvalue()[:2000])
    truncated.name = "cut.jpg"
    ico = encode(photo(size=(32, 32)), "ICO", name="icon.ico")
    frames = [photo(size=(32, 24)), photo(size=(32, 24)).rotate(180)]
    animated = io.BytesIO()
    frames[0].save(animated, format="GIF", save_all=True, append_images=frames[1:])
    animated.seek(0)
    animated.name = "anim.gif"
    # 400 megapixels of 1-bit zeros compress to a few tens of kilobytes: a decompression bomb.
    bomb = encode(PILImage.new("1", (20000, 20000)), "PNG", name="bomb.png")
    empty = io.BytesIO(b"")
    empty.name = "empty.png"
    return {
        "not an image": (text, "not a valid image"),
        "truncated": (truncated, "truncated or corrupt"),
        "disallowed format": (ico, "Unsupported image format"),
        "animated": (animated, "Animated images are not supported"),
        "decompression bomb": (bomb, "too many pixels"),
        "empty file": (empty, "empty"),
    }


@pytest.mark.parametrize("case", list(_bad_files()))
def test_bad_files_get_422_and_nothing_is_stored(api, media_root, case):
    upload, message = _bad_files()[case]
    response = api.post(URL, {"image": upload})

    assert response.status_code == 422, response.content
    body = response.json()
    assert body["success"] is False
    assert body["message"] == "Validation failed"
    assert message.lower() in " ".join(body["errors"]["image"]).lower()
    assert Image.objects.count() == 0
    assert stored_files(media_root) == []


def test_file_over_the_size_limit_gets_422(api, settings, media_root):
    settings.UPSCALE_MAX_UPLOAD_BYTES = 1024
    response = api.post(URL, {"image": encode(photo(), "PNG")})
    assert response.status_code == 422
    assert "at most 1 KB" in response.json()["errors"]["image"][0]
    assert Image.objects.count() == 0
    assert stored_files(media_root) == []


def test_missing_image_gets_422(api):
    response = api.post(URL, {"scale_factor": "2"})
    assert response.status_code == 422
    assert response.json()["errors"] == {"image": ["The image field is required."]}


@pytest.mark.parametrize("factor", ["1", "1.49", "two", "17", "2.555"])
def test_the_scale_factor_message_names_what_the_plan_allows(other_user, factor):
    """A factor outside the server's range is a 422 naming the plan's own range; one within it but beyond
    the plan is a 403 saying so."""
    free = client_for(other_user)
    response = free.post(URL, {"image": encode(photo()), "scale_factor": factor})
    message = "The scale factor may have at most 2 decimal places." if factor == "2.555" else (
        "The scale factor must be a number from 1.5 to 2.")  # fmt: skip
    assert (response.status_code, response.json()["errors"]) == (422, {"scale_factor": [message]})
    response = free.post(URL, {"image": encode(photo()), "scale_factor": "4"})
    assert response.status_code == 403 and "at most 2x" in response.json()["message"]


@pytest.mark.parametrize(("factor", "size", "shown"), [("1.5", (60, 45), 1.5), ("2.5", (100, 75), 2.5),
                                                      ("3.00", (120, 90), 3), ("6", (240, 180), 6)])  # fmt: skip
def test_fractional_scale_factors(api, small_photo, factor, size, shown):
    data = api.post(URL, {"image": encode(small_photo), "scale_factor": factor}).json()["data"]
    assert (data["output_width"], data["output_height"]) == size
    assert data["scale_factor"] == shown and type(data["scale_factor"]) is type(shown)


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"scale_factor": "1"}, "scale_factor", "The scale factor must be a number from 1.5 to 4."),
        ({"scale_factor": "two"}, "scale_factor", "The scale factor must be a number from 1.5 to 4."),
        ({"scale_factor": "2", "target_width": "100"}, "scale_factor", "cannot be used with target_width"),
        ({"target_width": "0"}, "target_width", "The target width must be between 1 and 16384."),
        ({"target_height": "16385"}, "target_height", "The target height must be between 1 and 16384."),
        ({"target_width": "wide"}, "target_width", "The target width must be an integer."),
        ({"target_width": "30"}, "target_width", "must be larger than the original"),
        ({"target_width": "40", "target_height": "30"}, "target_width", "must be larger than the original"),
        ({"target_width": "200"}, "target_width", "more than 4x"),
        ({"target_width": "100", "target_height": "200"}, "target_height", "more than 4x"),
        ({"model": "nonexistent"}, "model", "The model must be auto, "),
        ({"max_quality": "maybe"}, "max_quality", "The max quality field must be true or false."),
    ],
)
def test_invalid_sizes_get_422_with_a_field_error(api, settings, small_photo, media_root, params, field, message):
    settings.UPSCALE_MAX_SCALE = 4
    response = api.post(URL, {"image": encode(small_photo), **params})
    assert response.status_code == 422, response.json()
    errors = response.json()["errors"]
    assert message.lower() in " ".join(errors[field]).lower(), errors
    assert Image.objects.count() == 0
    assert stored_files(media_root) == []


def test_output_over_the_megapixel_cap_gets_422(api, settings, small_photo):
    settings.UPSCALE_MAX_OUTPUT_MEGAPIXELS = 0.01  # 10,000 pixels: 40x30 at 4x is 19,200
    response = api.post(URL, {"image": encode(small_photo), "scale_factor": "4"})
    assert response.status_code == 422
    assert "the limit is 0.01 MP" in response.json()["errors"]["scale_factor"][0]


def test_exif_orientation_is_applied_to_the_recorded_dimensions(api):
    img = photo(size=(40, 30))
    exif = PILImage.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    data = api.post(URL, {"image": encode(img, "JPEG", exif=exif.tobytes()), "scale_factor": "2"}).json()["data"]
    assert data["original_dimensions"] == "30x40"
    assert (data["output_width"], data["output_height"]) == (60, 80)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # on_commit runs at the real commit
def test_a_broker_failure_fails_the_image_instead_of_a_500(api, small_photo, monkeypatch):
    from images import jobs

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(jobs, "async_task", broker_down)
    response = api.post(URL, {"image": encode(small_photo)})

    assert response.status_code == 202
    data = response.json()["data"]
    assert data["status"] == "failed"
    assert "task queue is unavailable" in data["error"]


def test_scales_above_4x_are_accepted_up_to_the_configured_maximum(api, settings, small_photo):
    data = api.post(URL, {"image": encode(small_photo), "scale_factor": "16"}).json()["data"]
    assert (data["output_width"], data["output_height"]) == (640, 480)

    settings.UPSCALE_MAX_SCALE = 8
    response = api.post(URL, {"image": encode(small_photo), "scale_factor": "16"})
    assert response.status_code == 422
    assert "at most 8" in response.json()["errors"]["scale_factor"][0]


def test_16x_over_the_megapixel_cap_is_refused_before_queueing(api, settings):
    settings.UPSCALE_MAX_OUTPUT_MEGAPIXELS = 64
    big = photo(size=(600, 450))  # 16x would be 9600x7200 = 69 MP
    response = api.post(URL, {"image": encode(big), "scale_factor": "16"})
    assert response.status_code == 422
    assert "the limit is 64 MP" in response.json()["errors"]["scale_factor"][0]
    assert Image.objects.count() == 0


@pytest.mark.parametrize(
    ("params", "model_used"),
    [
        ({}, "standard"),
        ({"model": "precise"}, "precise"),
        ({"model": "anime-fast"}, "anime-fast"),
        ({"model": "portrait"}, "portrait"),
    ],
)
def test_the_record_says_which_model_runs(api, small_photo, params, model_used):
    data = api.post(URL, {"image": encode(small_photo), **params}).json()["data"]
    assert data["model_used"] == model_used
    assert data["model_reason"] == ""


def test_auto_is_resolved_by_the_worker_which_says_why(api):
    """The web tier reads only the header; the worker decodes the pixels and picks the model."""
    from images.tasks import upscale_image

    upload = encode(photo(crop=(150, 60, 214, 108)), "JPEG", quality=60)
    data = api.post(URL, {"image": upload, "model": "auto"}).json()["data"]
    assert (data["model"], data["model_used"], data["model_reason"]) == ("auto", None, "")
    upscale_image(data["id"])
    data = api.get(f"/api/images/{data['id']}").json()["data"]
    assert (data["status"], data["model"], data["model_used"]) == ("completed", "auto", "standard")
    assert "JPEG quality about 60" in data["model_reason"]


def test_auto_sends_a_damaged_portrait_to_portrait_and_says_why(api, settings):
    """The worker finds the face (MTCNN) and runs precise on it, standard around it."""
    from skimage import data as skimage_data

    from images.tasks import upscale_image

    # Two networks can outlast a heartbeat on a busy CPU, and its thread would wait on this test's transaction.
    settings.HEARTBEAT_SECONDS = 3600

    face = PILImage.fromarray(skimage_data.astronaut()).crop((96, 0, 352, 256)).resize((64, 64))
    data = api.post(URL, {"image": encode(face, "JPEG", quality=70), "model": "auto"}).json()["data"]
    upscale_image(data["id"])
    data = api.get(f"/api/images/{data['id']}").json()["data"]
    assert (data["status"], data["model_used"], data["upscaled_width"]) == ("completed", "portrait", 128)
    assert data["model_reason"].startswith("portrait: 1 face, ") and data["model_reason"].endswith("quality about 70")


def test_max_quality_only_with_precise(api, small_photo):
    ok = api.post(URL, {"image": encode(small_photo), "model": "precise", "max_quality": "true"})
    assert ok.status_code == 202 and ok.json()["data"]["max_quality"] is True
    refused = api.post(URL, {"image": encode(small_photo), "model": "standard", "max_quality": "true"})
    assert refused.status_code == 422
    assert "only available with the precise model" in refused.json()["errors"]["max_quality"][0]
