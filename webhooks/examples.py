"""The webhooks API's examples in the OpenAPI schema; ``tests/compat/test_contract.py`` validates them."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample

ENDPOINT_ID = "5d0c6a2e-7b1f-4c38-9a55-3f2e8d1c0b7a"

CREATED = OpenApiExample(
    "Endpoint created",
    request_only=False,
    response_only=True,
    status_codes=["201"],
    value={
        "success": True,
        "message": "Webhook endpoint created. Copy its secret now: it is not shown again.",
        "data": {
            "id": ENDPOINT_ID,
            "url": "https://shop.example.com/hooks/upscaler",
            "description": "Shop",
            "events": ["image.completed", "image.failed"],
            "headers": {"X-Shop": "eu-1"},
            "active": True,
            "disabled_reason": "",
            "created_at": "2026-02-15T12:00:00Z",
            "updated_at": "2026-02-15T12:00:00Z",
            "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        },
    },
)
