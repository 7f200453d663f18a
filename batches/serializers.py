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

#: Multipart names the files may come under: ``images`` repeated, or PHP-style ``images[]``.
FILE_FIELDS = ("images", "images[]")
#: Request fields applied to every image of the batch.
OPTION_FIELDS = ("scale_factor", "target_width", "target_height", "max_width", "max_height", "output_format",
                 "output_quality", "tune_colors", "model", "max_quality", "keep_metadata")  # fmt: skip


def _upload_fields() -> dict[str, serializers.Field]:
    fields = UpscaleRequestSerializer().fields
    return {
        "images[]": serializers.ListField(
            child=serializers.FileField(),
            min_length=1,
            max_length=settings.BATCH_MAX_IMAGES,
            help_text="The image files (1 to 20 by default); `images` works too.",
        ),
        **{name: fields[name] for name in OPTION_FIELDS},
        "name": serializers.CharField(required=False, max_length=255, help_text="A label for the batch."),
    }


#: ``POST /api/batches`` as the OpenAPI schema shows it (multipart): :func:`validate_batch` reads it.
BATCH_UPLOAD = inline_serializer("BatchUpload", _upload_fields())


@dataclass(frozen=True)
class BatchRequest:
    """A valid ``POST /api/batches``: its images and name, for :func:`batches.jobs.submit`."""

    submissions: list[Submission]
    name: str
    #: Whether the request named the output's width, its height (the batch records them).
    target_width: bool
    target_height: bool


def validate_batch(data: Any, files: Any, limits: Limits) -> BatchRequest:
    """``POST /api/batches``: 1 to ``BATCH_MAX_IMAGES`` files, each validated like a single upload.

    The options (``scale_factor`` or ``target_width``/``target_height``, ``model``,
    ``max_quality``) apply to every image. Errors name the file by its position:
    ``images.3`` for the fourth file.

    Raises:
        ValidationFailed: (422) on any invalid file or option; nothing is stored.
    """
    uploads = [f for field in FILE_FIELDS for f in files.getlist(field)]
    options = {key: data[key] for key in OPTION_FIELDS if key in data}
    name = data.get("name", "")
    limit = settings.BATCH_MAX_IMAGES
    errors: dict[str, list[str]] = {}
    if not 1 <= len(uploads) <= limit:
        errors["images"] = [f"Upload between 1 and {limit} images (got {len(uploads)})."]
    if len(name) > 255:
        errors["name"] = ["The name may be at most 255 characters."]
    if errors:
        raise ValidationFailed(errors)
    submissions: list[Submission] = []
    for index, upload in enumerate(uploads):
        serializer = UpscaleRequestSerializer(data={"image": upload, **options}, context={"limits": limits})
        if serializer.is_valid():
            submissions.append(serializer.submission)
            continue
        for field, messages in serializer.errors.items():
            if field == "image":
                errors[f"images.{index}"] = [f"{upload.name}: {m}" for m in messages]
            else:  # an option: the same for every file, reported once
                errors.setdefault(field, [str(m) for m in messages])
    if errors:
        raise ValidationFailed(errors)
    return BatchRequest(submissions, name, bool(options.get("target_width")), bool(options.get("target_height")))


class BatchSerializer(serializers.ModelSerializer[Batch]):
    """A batch as the API shows it, with its images (``ImageSerializer``) in upload order."""

    progress = serializers.IntegerField(read_only=True)
    scale_factor = ScaleFactorField()
    images = serializers.SerializerMethodField()

    class Meta:
        model = Batch
        fields = [
            "id",
            "name",
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
