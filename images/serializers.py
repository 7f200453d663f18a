"""Validation of upload requests and the JSON shape of an image."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any
from urllib.parse import urljoin

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from billing.quota import Limits
from images.files import safe_filename, url_filename
from images.jobs import MAX_WAIT_SECONDS, JobRequest, Submission, resolve
from images.models import Image, OutputFormat, human_size
from inference import (
    FORMAT_EXTENSIONS,
    MAX_SCALE_FACTOR,
    MAX_TARGET_SIDE,
    MIN_SCALE_FACTOR,
    MODEL_CHOICES,
    ImageHeader,
    InvalidImage,
    SizeError,
    probe_image,
)
from upscaler_site import outbound
from upscaler_site.serializers import OptionalURLField, OutboundURLField, RequestSerializer, checked, json_number

#: The fields an image may come in, one per request.
IMAGE_SOURCES = ("image", "image_url", "image_base64")
#: ``data:image/png;base64,`` before the base64 of a data URI.
_DATA_URI = re.compile(r"^data:[\w.+-]+/[\w.+-]+(;[\w-]+=[^;,]*)*;base64,", re.IGNORECASE)


def decode_base64(text: str, max_bytes: int) -> UploadedFile:
    """An image given as base64 (raw, URL-safe, or a ``data:`` URI), as an uploaded file named ``image``.

    Raises:
        rest_framework.serializers.ValidationError: not base64, or more than ``max_bytes`` once decoded.
    """
    encoded = re.sub(r"\s+", "", _DATA_URI.sub("", text.strip(), count=1))
    if len(encoded) * 3 // 4 > max_bytes + 2:
        raise serializers.ValidationError(f"The image may be at most {human_size(max_bytes)}.")
    try:
        content = base64.b64decode(encoded.replace("-", "+").replace("_", "/") + "=" * (-len(encoded) % 4),
                                   validate=True)  # fmt: skip
    except ValueError:  # binascii.Error, or characters outside ASCII
        raise serializers.ValidationError("The image base64 is not valid base64.") from None
    if not content:
        raise serializers.ValidationError("The image base64 is empty.")
    return SimpleUploadedFile("image", content)


@dataclass(frozen=True)
class ProbedUpload:
    """An uploaded file whose header says it is an image this service takes (nothing decoded)."""

    file: UploadedFile
    header: ImageHeader


@extend_schema_serializer(component_name="Upscale")
class UpscaleRequestSerializer(RequestSerializer):
    """``POST /api/images/upscale``: an image (a file, a URL or base64) and what to make of it.

    Multipart or JSON. Of an uploaded or base64 image only the header is read
    (:func:`inference.probe_image`): the worker decodes it. It is checked against the
    workspace's limits, ``context["limits"]`` (:class:`billing.quota.Limits`), with
    :func:`images.jobs.resolve`. An image URL is only checked for its form here: the
    worker fetches it and applies the same rules then. Valid data is a
    :class:`images.jobs.Submission` (:attr:`submission`), ready for :func:`images.jobs.submit`.
    """

    image = serializers.FileField(
        required=False,
        allow_empty_file=False,
        help_text="JPEG, PNG, WebP, BMP, TIFF or GIF; at most 10 MB by default. Or give image_url or image_base64.",
    )
    image_url = OutboundURLField(
        required=False,
        max_length=2048,
        help_text="An http(s) URL the worker fetches the image from (public addresses only, 3 redirects at most, "
        "10 s timeouts). A fetch that fails fails the image, and gives its quota back.",
    )
    image_base64 = serializers.CharField(
        required=False, help_text="The image file in base64, raw or as a data: URI (data:image/png;base64,...)."
    )
    ref = serializers.CharField(
        required=False, max_length=255, allow_blank=True, help_text="Your own reference, echoed in every answer."
    )
    webhook_url = OutboundURLField(
        required=False,
        max_length=2000,
        help_text="Where to POST this image's image.completed or image.failed event (a batch's: its batch.* "
        "event), signed with the workspace's request-webhook secret (GET /api/webhooks/secret).",
    )
    webhook_headers = serializers.JSONField(
        required=False,
        error_messages={"invalid": "The webhook headers must be a JSON object."},
        help_text='Extra HTTP headers sent to webhook_url, as a JSON object: {"Authorization": "Bearer ..."}.',
    )
    scale_factor = serializers.DecimalField(
        max_digits=4,
        decimal_places=2,
        min_value=Decimal(str(MIN_SCALE_FACTOR)),
        max_value=Decimal(MAX_SCALE_FACTOR),
        required=False,
        help_text="From 1.5 to the plan's maximum, fractions allowed (2.5); defaults to 2. Cannot be used with "
        "target_width/target_height.",
    )
    target_width = serializers.IntegerField(
        min_value=1,
        max_value=MAX_TARGET_SIDE,
        required=False,
        help_text="Exact output width in pixels; without target_height, the height keeps the aspect ratio.",
    )
    target_height = serializers.IntegerField(
        min_value=1,
        max_value=MAX_TARGET_SIDE,
        required=False,
        help_text="Exact output height in pixels; without target_width, the width keeps the aspect ratio.",
    )
    max_width = serializers.IntegerField(
        min_value=1,
        max_value=MAX_TARGET_SIDE,
        required=False,
        help_text="A box the result must fit in, keeping the aspect ratio. Alone: the largest size within it (up to "
        "the plan's maximum scale); an input already that large is returned unchanged, without using quota.",
    )
    max_height = serializers.IntegerField(
        min_value=1, max_value=MAX_TARGET_SIDE, required=False, help_text="The box's height: see max_width."
    )
    output_format = serializers.ChoiceField(
        choices=OutputFormat.choices,
        default=OutputFormat.AUTO,
        help_text="auto keeps the input's format (PNG where it cannot carry the result); png, jpeg (alpha on white) "
        "or webp.",
    )
    output_quality = serializers.IntegerField(
        min_value=1, max_value=100, required=False, help_text="JPEG and WebP quality; defaults to 90."
    )
    tune_colors = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Match the result's colour to the input's (the GAN models shift colours slightly).",
    )
    model = serializers.ChoiceField(
        choices=MODEL_CHOICES,
        required=False,
        help_text="The network (default: the server's, standard unless configured); portrait runs precise on the "
        "faces and standard elsewhere; auto picks one from the pixels and says why in model_reason.",
    )
    max_quality = serializers.BooleanField(
        required=False, default=False, help_text="Geometric self-ensemble: 8 passes, slower (precise model only)."
    )
    keep_metadata = serializers.BooleanField(
        required=False, default=False, help_text="Keep all EXIF (GPS, camera) in the result; default: technical only."
    )

    @property
    def limits(self) -> Limits:
        limits: Limits = self.context["limits"]
        return limits

    def message_overrides(self) -> dict[str, dict[str, str]]:
        # What the caller's plan allows: a factor within the server's range but beyond the plan is
        # refused 403 by the plan check. (Without limits, e.g. when the OpenAPI schema is generated:
        # what the server allows.)
        limits: Limits | None = self.context.get("limits")
        highest = limits.max_scale if limits else settings.UPSCALE_MAX_SCALE
        allowed = f"The scale factor must be a number from {MIN_SCALE_FACTOR:g} to {highest:g}."
        codes = ("invalid", "min_value", "max_value", "max_digits", "max_whole_digits", "max_string_length")
        return {"scale_factor": dict.fromkeys(codes, allowed)}

    def validate_image(self, upload: UploadedFile) -> ProbedUpload:
        return self._probe(upload)

    def validate_image_base64(self, text: str) -> ProbedUpload:
        return self._probe(decode_base64(text, settings.UPSCALE_MAX_UPLOAD_BYTES))

    def validate_webhook_headers(self, headers: Any) -> dict[str, str]:
        return checked(outbound.check_headers, headers)

    def _probe(self, upload: UploadedFile) -> ProbedUpload:
        limit = settings.UPSCALE_MAX_UPLOAD_BYTES
        if upload.size is not None and upload.size > limit:
            raise serializers.ValidationError(f"The image may be at most {human_size(limit)}.")
        try:
            upload.seek(0)
            header = probe_image(upload, max_pixels=self.limits.max_input_pixels)  # type: ignore[arg-type]
        except InvalidImage as exc:
            raise serializers.ValidationError(str(exc)) from None
        finally:
            upload.seek(0)
        return ProbedUpload(upload, header)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        # "The image field is required." is reported with the other fields' errors, as when it was the only source.
        missing = hasattr(data, "get") and not any(data.get(name) not in (None, "") for name in IMAGE_SOURCES)
        required = {"image": ["The image field is required."]}
        try:
            value: dict[str, Any] = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if missing and isinstance(exc.detail, dict):
                detail: dict[str, Any] = {**required, **exc.detail}
                raise serializers.ValidationError(detail) from None
            raise
        if missing:
            raise serializers.ValidationError(required)
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        sources = [name for name in IMAGE_SOURCES if name in attrs]
        if len(sources) > 1:
            raise serializers.ValidationError({sources[1]: ["Give one of image, image_url or image_base64."]})
        scale = attrs.get("scale_factor")
        request = JobRequest(
            scale_factor=None if scale is None else float(scale),
            target_width=attrs.get("target_width"),
            target_height=attrs.get("target_height"),
            max_width=attrs.get("max_width"),
            max_height=attrs.get("max_height"),
            model=attrs.get("model", ""),
            max_quality=attrs["max_quality"],
            keep_metadata=attrs["keep_metadata"],
            output_format=attrs["output_format"],
            output_quality=attrs.get("output_quality"),
            tune_colors=attrs["tune_colors"],
            ref=attrs.get("ref", ""),
            webhook_url=attrs.get("webhook_url", ""),
            webhook_headers=attrs.get("webhook_headers") or {},
        )
        if "image_url" in attrs:
            url = attrs["image_url"]
            return {"submission": Submission(request, url_filename(url), source_url=url)}
        probed: ProbedUpload = attrs.get("image") or attrs["image_base64"]
        try:
            options = resolve(probed.header.size, request, self.limits)
        except SizeError as exc:
            raise serializers.ValidationError({exc.field: [str(exc)]}) from None
        upload = probed.file
        named = f"image.{FORMAT_EXTENSIONS[probed.header.format]}"  # base64 comes without a name
        name = safe_filename(upload.name, named) if "image" in attrs else named
        submission = Submission(request, name, file=upload, size_bytes=upload.size or 0,
                                format=probed.header.format, options=options)  # fmt: skip
        return {"submission": submission}

    @property
    def submission(self) -> Submission:
        """What was validated (call :meth:`is_valid` first)."""
        submission: Submission = self.validated_data["submission"]
        return submission


class WaitSerializer(RequestSerializer):
    """``?wait=N`` on an upload: seconds to wait for the result (:func:`images.jobs.wait_until_finished`)."""

    wait = serializers.IntegerField(min_value=0, max_value=MAX_WAIT_SECONDS, default=0)


@extend_schema_serializer(component_name="UpscaleJson")
class UpscaleJsonSerializer(UpscaleRequestSerializer):
    """``POST /api/images/upscale`` with a JSON body, as the OpenAPI schema shows it: no file, only
    ``image_url`` or ``image_base64`` (the view reads both bodies with :class:`UpscaleRequestSerializer`)."""

    image = None  # type: ignore[assignment]


@extend_schema_field({"type": ["number", "null"], "minimum": MIN_SCALE_FACTOR})
class ScaleFactorField(serializers.Field):
    """A stored scale factor as the API shows it: 2 for a whole one (as documented), 2.5 for a fraction."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, value: Decimal | None) -> int | float | None:
        return None if value is None else json_number(value)


class ImageSerializer(serializers.ModelSerializer[Image]):
    """An image record as the API shows it: the documented fields, and ours beside them.

    ``target_width``/``target_height`` are the target size of a request that named one
    (null when it gave a scale factor, as documented); ``output_width``/``output_height``
    are the size the result will have either way.
    """

    scale_factor = ScaleFactorField()
    source_url = OptionalURLField(help_text="The URL the image was fetched from; null for uploads.")
    webhook_url = OptionalURLField(help_text="Where its event is POSTed; null for none.")
    target_width = serializers.SerializerMethodField()
    target_height = serializers.SerializerMethodField()
    output_width = serializers.IntegerField(source="target_width", read_only=True)
    output_height = serializers.IntegerField(source="target_height", read_only=True)

    original_path = serializers.CharField(source="original.name", read_only=True)
    original_size_human = serializers.SerializerMethodField()
    original_dimensions = serializers.CharField(read_only=True)
    original_dimensions_formatted = serializers.SerializerMethodField()
    upscaled_path = serializers.SerializerMethodField()
    upscaled_size_human = serializers.SerializerMethodField()
    upscaled_dimensions = serializers.CharField(read_only=True, allow_null=True)
    upscaled_dimensions_formatted = serializers.SerializerMethodField()
    upscaled_format = serializers.SerializerMethodField()
    model_used = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    batch_id = serializers.UUIDField(read_only=True, allow_null=True)
    scale_chain = serializers.ListField(
        child=serializers.IntegerField(), read_only=True, help_text="The network's native scales, in order."
    )

    class Meta:
        model = Image
        fields = [
            "id",
            "status",
            "progress",
            "ref",
            "webhook_url",
            "batch_id",
            "source_url",
            "original_filename",
            "original_path",
            "original_size",
            "original_size_human",
            "original_width",
            "original_height",
            "original_dimensions",
            "original_dimensions_formatted",
            "original_format",
            "scale_factor",
            "target_width",
            "target_height",
            "output_width",
            "output_height",
            "max_width",
            "max_height",
            "output_format",
            "output_quality",
            "tune_colors",
            "api_request",
            "model",
            "model_used",
            "model_reason",
            "max_quality",
            "keep_metadata",
            "scale_chain",
            "upscaled_path",
            "upscaled_size",
            "upscaled_size_human",
            "upscaled_width",
            "upscaled_height",
            "upscaled_dimensions",
            "upscaled_dimensions_formatted",
            "upscaled_format",
            "processing_time",
            "cached",
            "error",
            "download_url",
            "created_at",
            "updated_at",
            "started_at",
            "completed_at",
        ]
        read_only_fields = fields

    def get_target_width(self, obj: Image) -> int | None:
        return obj.target_width if obj.scale_factor is None else None

    def get_target_height(self, obj: Image) -> int | None:
        return obj.target_height if obj.scale_factor is None else None

    def get_original_size_human(self, obj: Image) -> str | None:
        return human_size(obj.original_size)

    def get_original_dimensions_formatted(self, obj: Image) -> str:
        return f"{obj.original_width} x {obj.original_height}"

    def get_upscaled_path(self, obj: Image) -> str | None:
        return obj.upscaled.name or None

    def get_upscaled_size_human(self, obj: Image) -> str | None:
        return human_size(obj.upscaled_size)

    def get_upscaled_dimensions_formatted(self, obj: Image) -> str | None:
        if obj.upscaled_width is None:
            return None
        return f"{obj.upscaled_width} x {obj.upscaled_height}"

    def get_upscaled_format(self, obj: Image) -> str | None:
        return obj.upscaled_format or None

    def get_model_used(self, obj: Image) -> str | None:
        """None while ``auto`` waits for the worker to see the pixels."""
        return obj.model_used or None

    def get_error(self, obj: Image) -> str | None:
        return obj.error or None

    def get_download_url(self, obj: Image) -> str | None:
        request = self.context.get("request")
        # No request in the worker (webhooks): the site's own public address.
        return obj.download_url(request.build_absolute_uri if request else partial(urljoin, settings.SITE_URL))


class DownloadSerializer(serializers.Serializer[Any]):
    """``GET /api/images/{id}/download``: a signed URL to the result, and its file name."""

    download_url = serializers.URLField(help_text="Signed; it expires. Fetch it without the Authorization header.")
    filename = serializers.CharField()


class ImageStatusSerializer(serializers.ModelSerializer[Image]):
    """``GET /api/images/{id}/status``: what polling needs, and nothing more."""

    class Meta:
        model = Image
        fields = ["id", "status", "progress"]
        read_only_fields = fields
