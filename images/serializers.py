"""Validation of upload requests and the JSON shape of an image."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from images.models import Image, human_size
from inference import (
    AUTO,
    MAX_TARGET_SIDE,
    MODELS,
    SCALE_FACTORS,
    InvalidImage,
    SizeError,
    SourceImage,
    choose_model,
    open_image,
    output_size,
)


def max_output_pixels() -> int:
    return int(settings.UPSCALE_MAX_OUTPUT_MEGAPIXELS * 1_000_000)


class UpscaleRequestSerializer(serializers.Serializer):
    """``POST /api/images/upscale``: an image file and either a scale factor or a target size."""

    image = serializers.FileField(allow_empty_file=False)
    scale_factor = serializers.ChoiceField(choices=SCALE_FACTORS, required=False)
    target_width = serializers.IntegerField(min_value=1, max_value=MAX_TARGET_SIDE, required=False)
    target_height = serializers.IntegerField(min_value=1, max_value=MAX_TARGET_SIDE, required=False)
    model = serializers.ChoiceField(choices=[AUTO, *MODELS], required=False)
    max_quality = serializers.BooleanField(required=False, default=False)

    def validate_scale_factor(self, scale: int) -> int:
        if scale > settings.UPSCALE_MAX_SCALE:
            raise serializers.ValidationError(f"The scale factor may be at most {settings.UPSCALE_MAX_SCALE}.")
        return scale

    def validate_image(self, upload: Any) -> Any:
        limit = settings.UPSCALE_MAX_UPLOAD_BYTES
        if upload.size > limit:
            raise serializers.ValidationError(f"The image may be at most {human_size(limit)}.")
        try:
            upload.seek(0)
            self.source: SourceImage = open_image(upload, max_pixels=max_output_pixels())
        except InvalidImage as exc:
            raise serializers.ValidationError(str(exc)) from None
        finally:
            upload.seek(0)
        return upload

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        scale = attrs.get("scale_factor")
        if scale is not None and ("target_width" in attrs or "target_height" in attrs):
            raise serializers.ValidationError(
                {"scale_factor": ["Give either scale_factor or target_width/target_height, not both."]}
            )
        try:
            width, height = output_size(
                self.source.size,
                scale_factor=None if scale is None else int(scale),
                target_width=attrs.get("target_width"),
                target_height=attrs.get("target_height"),
                max_scale=settings.UPSCALE_MAX_SCALE,
            )
        except SizeError as exc:
            raise serializers.ValidationError({exc.field: [str(exc)]}) from None
        if width * height > max_output_pixels():
            field = "scale_factor" if "target_width" not in attrs and "target_height" not in attrs else "target_width"
            raise serializers.ValidationError(
                {
                    field: [
                        f"The output would be {width}x{height} ({width * height / 1e6:.1f} MP); "
                        f"the limit is {settings.UPSCALE_MAX_OUTPUT_MEGAPIXELS:g} MP."
                    ]
                }
            )
        if scale is None and "target_width" not in attrs and "target_height" not in attrs:
            attrs["scale_factor"] = 2
        attrs["output_size"] = (width, height)
        self.output_factor = max(width / self.source.size[0], height / self.source.size[1])
        attrs.setdefault("model", settings.UPSCALE_DEFAULT_MODEL)
        if attrs["model"] == AUTO:
            choice = choose_model(self.source.image, self.source.format, self.source.jpeg_quality)
            attrs["model_used"], attrs["model_reason"] = choice.model, choice.reason
        else:
            attrs["model_used"], attrs["model_reason"] = attrs["model"], ""
        if attrs["max_quality"] and attrs["model_used"] != "precise":
            raise serializers.ValidationError(
                {"max_quality": ["max_quality is only available with the precise model."]}
            )
        return attrs

    def create(self, validated_data: dict[str, Any]) -> Image:
        upload = validated_data["image"]
        width, height = validated_data["output_size"]
        image = Image(
            workspace=validated_data["workspace"],
            created_by=validated_data["created_by"],
            original_filename=(upload.name or "image")[:255],
            original_size=upload.size,
            original_width=self.source.size[0],
            original_height=self.source.size[1],
            original_format=self.source.format,
            scale_factor=validated_data.get("scale_factor"),
            target_width=width,
            target_height=height,
            model=validated_data["model"],
            model_used=validated_data["model_used"],
            model_reason=validated_data["model_reason"],
            max_quality=validated_data["max_quality"],
            quota_month=validated_data.get("quota_month"),
            batch=validated_data.get("batch"),
        )
        image.original.save(upload.name or "image", upload, save=False)
        try:
            image.save()
        except Exception:
            image.original.delete(save=False)
            raise
        return image


class ImageSerializer(serializers.ModelSerializer):
    """An image record as the API shows it."""

    original_path = serializers.CharField(source="original.name", read_only=True)
    original_size_human = serializers.SerializerMethodField()
    original_dimensions = serializers.CharField(read_only=True)
    original_dimensions_formatted = serializers.SerializerMethodField()
    upscaled_path = serializers.SerializerMethodField()
    upscaled_size_human = serializers.SerializerMethodField()
    upscaled_dimensions = serializers.CharField(read_only=True)
    upscaled_dimensions_formatted = serializers.SerializerMethodField()
    upscaled_format = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    batch_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = Image
        fields = [
            "id",
            "status",
            "batch_id",
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
            "model",
            "model_used",
            "model_reason",
            "max_quality",
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
            "error",
            "download_url",
            "created_at",
            "updated_at",
            "started_at",
            "completed_at",
        ]
        read_only_fields = fields

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

    def get_error(self, obj: Image) -> str | None:
        return obj.error or None

    def get_download_url(self, obj: Image) -> str | None:
        path = obj.download_path()
        if path is None:
            return None
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path
