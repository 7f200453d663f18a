"""Validation of batch uploads and the JSON shape of a batch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from batches.models import Batch
from billing.quota import Limits
from images.jobs import Submission
from images.serializers import ImageSerializer, ScaleFactorField, UpscaleRequestSerializer
from upscaler_site.api import ValidationFailed
from upscaler_site.serializers import OptionalURLField

#: Multipart names the files may come under: ``images`` repeated, or PHP-style ``images[]``.
FILE_FIELDS = ("images", "images[]")
#: Request fields applied to every image of the batch.
OPTION_FIELDS = ("scale_factor", "target_width", "target_height", "max_width", "max_height", "output_format",
                 "output_quality", "tune_colors", "model", "max_quality", "keep_metadata", "ref", "webhook_url",
                 "webhook_headers")  # fmt: skip
#: The other sources of a batch's images, and the single upload's field each item is validated as.
LIST_SOURCES = {"image_urls": "image_url", "images_base64": "image_base64"}


def _upload_fields() -> dict[str, serializers.Field]:
    fields = UpscaleRequestSerializer().fields
    return {
        "images[]": serializers.ListField(
            child=serializers.FileField(),
            min_length=1,
            max_length=settings.BATCH_MAX_IMAGES,
            required=False,
            help_text="The image files (1 to 20 in all, with the URLs and base64 below); `images` works too.",
        ),
        "image_urls": serializers.ListField(
            child=serializers.CharField(max_length=2048),
            required=False,
            help_text="http(s) URLs the worker fetches images from, as image_url of a single upload.",
        ),
        "images_base64": serializers.ListField(
            child=serializers.CharField(), required=False, help_text="Image files in base64 (raw or data: URIs)."
        ),
        **{name: fields[name] for name in OPTION_FIELDS},
        "name": serializers.CharField(required=False, max_length=255, help_text="A label for the batch."),
    }


#: ``POST /api/batches`` as the OpenAPI schema shows it, multipart and JSON: :func:`validate_batch` reads both.
BATCH_UPLOAD = inline_serializer("BatchUpload", _upload_fields())
BATCH_JSON = inline_serializer("BatchJson", {k: v for k, v in _upload_fields().items() if k != "images[]"})


@dataclass(frozen=True)
class BatchRequest:
    """A valid ``POST /api/batches``: its images and name, for :func:`batches.jobs.submit`."""

    submissions: list[Submission]
    name: str


def _listed(data: Any, name: str) -> list[Any]:
    """A list field of a multipart form (repeated, or PHP-style ``name[]``) or of a JSON body."""
    if hasattr(data, "getlist"):
        return [*data.getlist(name), *data.getlist(f"{name}[]")]
    value = data.get(name, [])
    return value if isinstance(value, list) else [value]


def validate_batch(data: Any, files: Any, limits: Limits) -> BatchRequest:
    """``POST /api/batches``: 1 to ``BATCH_MAX_IMAGES`` images, each validated like a single upload.

    The images are files (multipart), URLs (``image_urls``) and base64 (``images_base64``),
    in that order; the body may be multipart or JSON. The options (``scale_factor`` or
    ``target_width``/``target_height``, ``model``, ...) apply to every image. Errors name
    an image by its source and position: ``images.3`` for the fourth file,
    ``image_urls.0`` for the first URL.

    Raises:
        ValidationFailed: (422) on any invalid image or option; nothing is stored.
    """
    if not isinstance(data, dict):  # a QueryDict is one too
        raise ValidationFailed({"non_field_errors": ["The body must be a JSON object or a form."]})
    sources: list[tuple[str, str, Any]] = [
        (f"images.{index}", "image", upload)
        for index, upload in enumerate(f for field in FILE_FIELDS for f in files.getlist(field))
    ]
    for list_name, field in LIST_SOURCES.items():
        sources += [(f"{list_name}.{index}", field, item) for index, item in enumerate(_listed(data, list_name))]
    options = {key: data[key] for key in OPTION_FIELDS if key in data}
    name = data.get("name", "")
    limit = settings.BATCH_MAX_IMAGES
    errors: dict[str, list[str]] = {}
    if not 1 <= len(sources) <= limit:
        errors["images"] = [f"Send between 1 and {limit} images (got {len(sources)})."]
    if not isinstance(name, str) or len(name) > 255:
        errors["name"] = ["The name must be a string of at most 255 characters."]
    if errors:
        raise ValidationFailed(errors)
    submissions: list[Submission] = []
    for where, field, item in sources:
        serializer = UpscaleRequestSerializer(data={field: item, **options}, context={"limits": limits})
        if serializer.is_valid():
            submissions.append(serializer.submission)
            continue
        for error_field, messages in serializer.errors.items():
            if error_field == field:
                label = getattr(item, "name", None) if field == "image" else None
                errors[where] = [f"{label}: {m}" if label else str(m) for m in messages]
            else:  # an option: the same for every image, reported once
                errors.setdefault(error_field, [str(m) for m in messages])
    if errors:
        raise ValidationFailed(errors)
    return BatchRequest(submissions, name)


class BatchSerializer(serializers.ModelSerializer[Batch]):
    """A batch as the API shows it, with its images (``ImageSerializer``) in upload order."""

    progress = serializers.IntegerField(read_only=True)
    scale_factor = ScaleFactorField()
    webhook_url = OptionalURLField(help_text="Where its batch.* event is POSTed; null for none.")
    images = serializers.SerializerMethodField()

    class Meta:
        model = Batch
        fields = [
            "id",
            "name",
            "ref",
            "webhook_url",
            "status",
            "total_images",
            "completed_images",
            "failed_images",
            "scale_factor",
            "target_width",
            "target_height",
            "model",
            "progress",
            "images",
            "created_at",
            "updated_at",
            "completed_at",
        ]
        read_only_fields = fields

    @extend_schema_field(ImageSerializer(many=True))
    def get_images(self, obj: Batch) -> Any:
        return ImageSerializer(obj.images_in_upload_order(), many=True, context=self.context).data
