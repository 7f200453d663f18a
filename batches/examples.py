"""The batch API's examples in the OpenAPI schema: the documented page's "Product photos".

``tests/compat/test_contract.py`` validates each against the schema it illustrates.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample

from images.examples import image

BATCH_ID = "7d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
IMAGE_IDS = ["5f8e7d6c-0001-4b3a-9c8d-7e6f5a4b3c21", "5f8e7d6c-0002-4b3a-9c8d-7e6f5a4b3c21",
             "5f8e7d6c-0003-4b3a-9c8d-7e6f5a4b3c21"]  # fmt: skip


def batch(**changes: Any) -> dict[str, Any]:
    images = [image(id=id_, batch_id=BATCH_ID, original_filename=f"photo{n}.jpg") for n, id_ in enumerate(IMAGE_IDS, 1)]
    return {
        "id": BATCH_ID, "name": "Product photos", "ref": "", "webhook_url": None, "status": "pending",
        "total_images": 3,
        "completed_images": 0, "failed_images": 0, "scale_factor": 2, "target_width": None, "target_height": None,
        "model": "standard",
        "progress": 0, "images": images, "created_at": "2026-02-15T12:00:00Z", "updated_at": "2026-02-15T12:00:00Z",
        "completed_at": None, **changes,
    }  # fmt: skip


CREATED = OpenApiExample(
    "Queued", response_only=True, status_codes=["202"],
    value={"success": True, "message": "Batch created and images queued for processing", "data": batch()},
)  # fmt: skip
