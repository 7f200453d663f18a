"""Validation of batch uploads and the JSON shape of a batch."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import QueryDict
from rest_framework import serializers

from batches.models import Batch
from images.models import Image
from images.serializers import ImageSerializer, UpscaleRequestSerializer
from upscaler_site.api import ValidationFailed

#: Multipart names the files may come under: ``images`` repeated, or PHP-style ``images[]``.
FILE_FIELDS = ("images", "images[]")
#: Request fields applied to every image of the batch.
OPTION_FIELDS = ("scale_factor", "target_width", "target_height", "model", "max_quality")


class BatchRequest:
    """``POST /api/batches``: 1 to ``BATCH_MAX_IMAGES`` files, each validated like a single upload.

    The options (``scale_factor`` or ``target_width``/``target_height``, ``model``,
    ``max_quality``) apply to every image. Errors name the file by its position:
    ``images.3`` for the fourth file.

    Raises:
        ValidationFailed: (422) on any invalid file or option; nothing is stored.
    """

    def __init__(self, data: QueryDict, files) -> None:
        self.uploads = [f for field in FILE_FIELDS for f in files.getlist(field)]
        self.options = {key: data[key] for key in OPTION_FIELDS if key in data}
        self.name = data.get("name", "")
        self.images: list[UpscaleRequestSerializer] = []

    def validate(self) -> None:
        limit = settings.BATCH_MAX_IMAGES
        errors: dict[str, list[str]] = {}
        if not 1 <= len(self.uploads) <= limit:
            errors["images"] = [f"Upload between 1 and {limit} images (got {len(self.uploads)})."]
        if len(self.name) > 255:
            errors["name"] = ["The name may be at most 255 characters."]
        if errors:
            raise ValidationFailed(errors)
        for index, upload in enumerate(self.uploads):
            serializer = UpscaleRequestSerializer(data={"image": upload, **self.options})
            if serializer.is_valid():
                self.images.append(serializer)
                continue
            for field, messages in serializer.errors.items():
                if field == "image":
                    errors[f"images.{index}"] = [f"{upload.name}: {m}" for m in messages]
                else:  # an option: the same for every file, reported once
                    errors.setdefault(field, [str(m) for m in messages])
        if errors:
            raise ValidationFailed(errors)

    @property
    def output_factor(self) -> float:
        """The largest upscaling factor of any image, for the plan's scale limit."""
        return max(serializer.output_factor for serializer in self.images)

    def save(self, *, workspace, created_by, quota_month) -> Batch:
        """Create the batch and its images (call inside the quota's transaction)."""
        first = self.images[0].validated_data
        batch = Batch.objects.create(
            workspace=workspace,
            created_by=created_by,
            name=self.name or f"{len(self.images)} image{'s' if len(self.images) > 1 else ''}",
            total_images=len(self.images),
            scale_factor=first.get("scale_factor"),
            target_width=self.options.get("target_width") and first["output_size"][0],
            target_height=self.options.get("target_height") and first["output_size"][1],
            model=first["model"],
        )
        saved: list[Image] = []
        try:
            for serializer in self.images:
                saved.append(
                    serializer.save(workspace=workspace, created_by=created_by, quota_month=quota_month, batch=batch)
                )
        except Exception:
            # The rows roll back with the transaction; the files are not transactional.
            for image in saved:
                image.delete_files()
            raise
        return batch


class BatchSerializer(serializers.ModelSerializer):
    """A batch as the API shows it, with its images (``ImageSerializer``) in upload order."""

    progress = serializers.IntegerField(read_only=True)
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

    def get_images(self, obj: Batch) -> list[dict[str, Any]]:
        return ImageSerializer(obj.images_in_upload_order(), many=True, context=self.context).data
