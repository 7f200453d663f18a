"""The auth and account API's examples in the OpenAPI schema: the documented page's values (Jane Smith).

``tests/compat/test_contract.py`` validates each against the schema it illustrates.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample

WORKSPACE = {"id": 1, "name": "Jane Smith", "personal": True, "role": "owner"}


def user(verified: bool = True, plan: str = "Starter") -> dict[str, Any]:
    """Jane Smith's profile, on ``plan``."""
    summary = {"id": 2 if plan == "Starter" else 1, "name": plan, "slug": plan.lower()}
    return {
        "id": 1, "name": "Jane Smith", "email": "jane@example.com",
        "email_verified_at": "2026-02-15T12:05:00Z" if verified else None,
        "profile_photo_url": "https://ui-avatars.com/api/?name=J+S&color=7F9CF5&background=EBF4FF",
        "created_at": "2026-02-15T12:00:00Z", "updated_at": "2026-02-15T12:00:00Z", "email_verified": verified,
        "workspace": WORKSPACE, "workspaces": [WORKSPACE], "pricing_plan": summary, "plan": summary,
    }  # fmt: skip


REGISTERED = OpenApiExample(
    "Registered", response_only=True, status_codes=["201"],
    value={"success": True, "message": "Registration successful. Please verify your email to access all features.",
           "data": {"user": user(verified=False, plan="Free"), "token": "ups_3q9Vx...", "token_type": "Bearer"}},
)  # fmt: skip
LOGGED_IN = OpenApiExample(
    "Logged in", response_only=True, status_codes=["200"],
    value={"success": True, "message": "Login successful",
           "data": {"user": user(), "token": "ups_Zk27p...", "token_type": "Bearer"}},
)  # fmt: skip
PROFILE = OpenApiExample(
    "Jane", response_only=True, status_codes=["200"],
    value={"success": True, "message": "User retrieved successfully", "data": user()},
)  # fmt: skip
TOKENS = OpenApiExample(
    "One token", response_only=True, status_codes=["200"],
    value={"success": True, "message": "API tokens retrieved successfully", "data": {"count": 1, "tokens": [
        {"id": 1, "name": "My App", "prefix": "ups_Zk27pQ1x", "workspace": 1,
         "abilities": ["images:read", "images:write", "images:delete", "user:read"],
         "last_used_at": "2026-02-15T11:30:00Z", "expires_at": None, "created_at": "2026-01-15T09:00:00Z"},
    ]}},
)  # fmt: skip
