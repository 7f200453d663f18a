"""The billing API's examples in the OpenAPI schema: the documented page's values (the Starter plan).

``tests/compat/test_contract.py`` validates each against the schema it illustrates.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample

STARTER = {
    "id": 2, "name": "Starter", "slug": "starter", "price": 9, "price_is_minimum": False,
    "features": ["api_access", "priority_support"],
    "limits": ["25 images per month", "500 API requests per hour", "Scale factors up to 4x",
               "Images up to 16 megapixels", "5 images processing at once"],
    "quota": {"images_per_month": 25, "requests_per_hour": 500, "max_scale": 4, "max_input_megapixels": 16.0,
              "max_unfinished_jobs": 5, "batches": False, "api_access": True},
}  # fmt: skip

USAGE = OpenApiExample(
    "Starter", response_only=True, status_codes=["200"],
    value={"success": True, "message": "Usage statistics retrieved successfully", "data": {
        "plan": "starter",
        "image_uploads": {"used": 10, "limit": 25, "remaining": 15, "unlimited": False, "exceeded": False,
                          "percentage": 40.0, "period_start": "2026-02-01", "resets_at": "2026-03-01T00:00:00Z"},
        "features": ["api_access", "priority_support"],
        "plan_details": STARTER,
    }},
)  # fmt: skip
SUBSCRIPTION = OpenApiExample(
    "Starter", response_only=True, status_codes=["200"],
    value={"success": True, "message": "Subscription details retrieved successfully", "data": {
        "subscription": {"id": 1, "type": "default", "status": "active", "quantity": 1, "trial_ends_at": None,
                         "ends_at": None, "created_at": "2026-01-01T00:00:00Z", "is_active": True,
                         "is_on_trial": False, "is_cancelled": False, "is_on_grace_period": False},
        "plan": STARTER,
    }},
)  # fmt: skip
