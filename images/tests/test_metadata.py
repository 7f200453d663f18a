"""Results do not carry a photo's personal metadata unless asked to (security, issue #11 item 12)."""

from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage
from PIL import ImageCms

from images import tasks
from images.models import Image
from upscaler_site.testing import client_for, encode, photo

pytestmark = pytest.mark.django_db

GPS_IFD, MAKE, BODY_SERIAL, X_RESOLUTION = 0x8825, 0x010F, 0xA431, 0x011A


def phone_photo() -> io.BytesIO:
    """A JPEG with what a phone writes: GPS position, camera make, serial number, resolution, an ICC profile."""
    exif = PILImage.Exif()
    exif[MAKE] = "Acme Phone"
    exif[X_RESOLUTION] = 72.0
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (52.0, 22.0, 30.0), 3: "E", 4: (4.0, 53.0, 45.0)})
    exif.get_ifd(0x8769)[BODY_SERIAL] = "SN-123456"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return encode(photo(size=(40, 30)), "JPEG", exif=exif.tobytes(), icc_profile=icc)


def upscaled(user, **options) -> PILImage.Image:
    data = client_for(user).post("/api/images/upscale", {"image": phone_photo(), "model": "anime-fast",
                                                          **options}).json()["data"]  # fmt: skip
    assert tasks.upscale_image(data["id"]) == "completed"
    with Image.objects.get(pk=data["id"]).upscaled.open("rb") as handle:
        result = PILImage.open(io.BytesIO(handle.read()))
        result.load()
    return result


def test_gps_and_camera_details_are_dropped_by_default(user):
    result = upscaled(user)
    exif = result.getexif()
    assert not exif.get_ifd(GPS_IFD) and MAKE not in exif and BODY_SERIAL not in exif.get_ifd(0x8769)
    assert exif.get(X_RESOLUTION) == 72.0  # technical tags stay
    assert result.info.get("icc_profile")  # and so does the colour profile


def test_keep_metadata_keeps_it_all(user):
    exif = upscaled(user, keep_metadata="true").getexif()
    assert exif[MAKE] == "Acme Phone" and exif.get_ifd(GPS_IFD)[1] == "N"
    assert exif.get_ifd(0x8769)[BODY_SERIAL] == "SN-123456"
