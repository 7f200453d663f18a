"""The image API's examples in the OpenAPI schema: the documented page's values, in our shapes.

``tests/compat/test_contract.py`` validates each against the schema it illustrates.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample

IMAGE_ID = "0b5e3f6c-2a53-4a8e-9d7e-6c1f0d2b9a41"


def image(**changes: Any) -> dict[str, Any]:
    """The page's photo.jpg (1920x1080, 2 MB) as our image record, pending unless ``changes`` say otherwise."""
    return {
        "id": IMAGE_ID, "status": "pending", "progress": 0, "ref": "", "webhook_url": None, "batch_id": None,
        "source_url": None,
        "original_filename": "photo.jpg",
        "original_path": f"images/{IMAGE_ID}/original.jpg", "original_size": 2048576, "original_size_human": "2 MB",
        "original_width": 1920, "original_height": 1080, "original_dimensions": "1920x1080",
        "original_dimensions_formatted": "1920 x 1080", "original_format": "JPEG", "scale_factor": 2,
        "target_width": None, "target_height": None, "output_width": 3840, "output_height": 2160,
        "max_width": None, "max_height": None, "output_format": "auto", "output_quality": None, "tune_colors": False,
        "api_request": True, "model": "standard", "model_used": "standard", "model_reason": "", "max_quality": False,
        "keep_metadata": False, "scale_chain": [4], "upscaled_path": None, "upscaled_size": None,
        "upscaled_size_human": None, "upscaled_width": None, "upscaled_height": None, "upscaled_dimensions": None,
        "upscaled_dimensions_formatted": None, "upscaled_format": None, "processing_time": None, "cached": False,
        "error": None,
        "download_url": None, "created_at": "2026-02-15T12:00:00Z", "updated_at": "2026-02-15T12:00:00Z",
        "started_at": None, "completed_at": None,
        **changes,
    }  # fmt: skip


COMPLETED = image(
    status="completed", progress=100, upscaled_path=f"images/{IMAGE_ID}/result.jpg", upscaled_size=8194304,
    upscaled_size_human="7.81 MB", upscaled_width=3840, upscaled_height=2160, upscaled_dimensions="3840x2160",
    upscaled_dimensions_formatted="3840 x 2160", upscaled_format="JPEG", processing_time=4.82,
    download_url="https://upscaler.example.com/files/eyJpIjoiMGI1ZTNm...", updated_at="2026-02-15T12:00:05Z",
    started_at="2026-02-15T12:00:00.2Z", completed_at="2026-02-15T12:00:05Z",
)  # fmt: skip


def envelope(message: str, data: Any, **extra: Any) -> dict[str, Any]:
    return {"success": True, "message": message, "data": data, **extra}


UPLOADED = OpenApiExample(
    "Queued", response_only=True, status_codes=["202"],
    value=envelope("Image uploaded and queued for processing", image()),
)  # fmt: skip
INVALID = OpenApiExample(
    "Validation failed", response_only=True, status_codes=["422"],
    value={"success": False, "message": "Validation failed",
           "errors": {"image": ["The image field is required."],
                      "scale_factor": ["The scale factor must be a number from 1.5 to 4."]}},
)  # fmt: skip
RETRIEVED = OpenApiExample(
    "Completed", response_only=True, status_codes=["200"],
    value=envelope("Image retrieved successfully", COMPLETED),
)  # fmt: skip
LISTED = OpenApiExample(
    "A page", response_only=True, status_codes=["200"],
    value=envelope(
        "Images retrieved successfully", [COMPLETED],
        meta={"current_page": 1, "last_page": 3, "per_page": 10, "total": 27},
        links={"first": "https://upscaler.example.com/api/images?page=1",
               "last": "https://upscaler.example.com/api/images?page=3", "prev": None,
               "next": "https://upscaler.example.com/api/images?page=2"},
    ),
)  # fmt: skip
DOWNLOAD = OpenApiExample(
    "Signed URL", response_only=True, status_codes=["200"],
    value=envelope("Download URL generated successfully",
                   {"download_url": COMPLETED["download_url"], "filename": "photo_upscaled_3840x2160.jpg"}),
)  # fmt: skip
DELETED = OpenApiExample(
    "Deleted", response_only=True, status_codes=["200"], value=envelope("Image deleted successfully", None)
)
