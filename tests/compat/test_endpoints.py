"""The upscaling API's documentation page (upscale-media.ai/api/docs), endpoint by endpoint.

Every field the page shows, with its type and whether it may be null; every status code and
message it documents. A client written from the page reads exactly these; our own fields
beside them are allowed (the page's objects are a subset of ours). Ids are the one documented
deviation: UUID strings, not integers (see the README).

The page's own client flow, against a live server and a real worker, is in ``test_client_flow.py``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiToken
from billing.models import Plan, Subscription
from billing.quota import reserve_images
from images.models import Image
from images.tests.factories import make_image
from upscaler_site.testing import client_for, encode, make_user, photo

pytestmark = pytest.mark.django_db

NULL = type(None)
TIMESTAMP = "timestamp"  # an ISO 8601 string
ID = "uuid"  # ours: documented as an integer, a UUID string here


def assert_shape(value: dict[str, Any], shape: dict[str, Any], where: str = "data") -> None:
    """Each documented field of ``value`` is present with one of the types ``shape`` gives it."""
    for field, kinds in shape.items():
        assert field in value, f"{where}.{field} is missing"
        kinds = kinds if isinstance(kinds, tuple) else (kinds,)
        got = value[field]
        if isinstance(got, dict) and dict in [type(k) for k in kinds]:
            assert_shape(got, next(k for k in kinds if isinstance(k, dict)), f"{where}.{field}")
            continue
        assert any(_is(got, kind) for kind in kinds), f"{where}.{field} = {got!r}, expected {kinds}"


def _is(value: Any, kind: Any) -> bool:
    if kind == TIMESTAMP:
        return isinstance(value, str) and datetime.fromisoformat(value.replace("Z", "+00:00")) is not None
    if kind == ID:
        return isinstance(value, str) and uuid.UUID(value) is not None
    if kind is float:  # JSON numbers: 42.0 may arrive as 42
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def assert_ok(response, status: int, message: str) -> Any:
    assert response.status_code == status, response.content
    body = response.json()
    assert (body["success"], body["message"]) == (True, message)
    return body.get("data")


PLAN_SUMMARY = {"id": int, "name": str, "slug": str}
USER = {
    "id": int,
    "name": str,
    "email": str,
    "email_verified_at": (TIMESTAMP, NULL),
    "profile_photo_url": str,
    "created_at": TIMESTAMP,
    "updated_at": TIMESTAMP,
    "pricing_plan": PLAN_SUMMARY,
}
UPLOADED = {
    "id": ID,
    "original_filename": str,
    "original_size": int,
    "original_size_human": str,
    "original_dimensions": (str, NULL),
    "status": str,
    "scale_factor": (int, NULL),
    "target_width": (int, NULL),
    "target_height": (int, NULL),
    "api_request": bool,
    "created_at": TIMESTAMP,
    "updated_at": TIMESTAMP,
}
IMAGE = {
    **UPLOADED,
    "original_path": str,
    "upscaled_path": (str, NULL),
    "upscaled_size": (int, NULL),
    "upscaled_size_human": (str, NULL),
    "upscaled_dimensions": (str, NULL),
    "original_dimensions_formatted": str,
    "upscaled_dimensions_formatted": (str, NULL),
    "processing_time": (float, NULL),
    "download_url": (str, NULL),
}
BATCH = {
    "id": ID,
    "name": str,
    "status": str,
    "total_images": int,
    "completed_images": int,
    "failed_images": int,
    "scale_factor": (int, NULL),
    "progress": int,
    "images": list,
    "created_at": TIMESTAMP,
    "updated_at": TIMESTAMP,
    "completed_at": (TIMESTAMP, NULL),
}
PAGE_META = {"current_page": int, "last_page": int, "per_page": int, "total": int}
PAGE_LINKS = {"first": str, "last": str, "prev": (str, NULL), "next": (str, NULL)}
REGISTER = {
    "name": "Jane Smith",
    "email": "jane@example.com",
    "password": "Mixed-Case-1",
    "password_confirmation": "Mixed-Case-1",
}


@pytest.fixture
def starter(db):
    """Jane, verified, on Starter (the page's examples)."""
    jane = make_user("jane@example.com", name="Jane Smith")
    Subscription.objects.create(workspace=jane.personal_workspace, plan=Plan.objects.get(slug="starter"))
    return jane


@pytest.fixture
def pro(db):
    """Someone on Professional: batches."""
    person = make_user("pro@example.com")
    Subscription.objects.create(workspace=person.personal_workspace, plan=Plan.objects.get(slug="professional"))
    return person


# --- Authentication -------------------------------------------------------------------------


def test_register(mailoutbox):
    data = assert_ok(APIClient().post("/api/auth/register", REGISTER), 201,
                     "Registration successful. Please verify your email to access all features.")  # fmt: skip
    assert_shape(data, {"user": USER, "token": str, "token_type": str})
    assert data["user"]["email_verified_at"] is None
    assert data["user"]["pricing_plan"] == {"id": Plan.free().pk, "name": "Free", "slug": "free"}
    assert data["token_type"] == "Bearer" and len(mailoutbox) == 1


def test_register_device_name_names_the_token():
    APIClient().post("/api/auth/register", {**REGISTER, "device_name": "CI server"})
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["CI server"]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": ""}, "name", "The name field is required."),
        ({"name": "x" * 256}, "name", "The name must not be longer than 255 characters."),
        ({"email": "not-an-email"}, "email", "The email must be a valid email address."),
        ({"password_confirmation": "Other-Case-1"}, "password_confirmation", "The passwords do not match."),
    ],
)
def test_register_validation(changes, field, message):
    response = APIClient().post("/api/auth/register", {**REGISTER, **changes})
    assert response.status_code == 422
    assert response.json()["message"] == "Validation failed"
    assert response.json()["errors"][field] == [message]


def test_login_logout_and_revoke_all(starter):
    login = APIClient().post("/api/auth/login", {"email": "jane@example.com", "password": "Secret-pass-1"},
                             format="json")  # fmt: skip
    data = assert_ok(login, 200, "Login successful")
    assert_shape(data, {"user": USER, "token": str, "token_type": str})
    assert data["user"]["email_verified_at"] is not None
    assert data["user"]["pricing_plan"]["slug"] == "starter"

    session = client_for_key(data["token"])
    assert_ok(session.post("/api/auth/logout"), 200, "Logout successful")
    assert session.get("/api/user").status_code == 401

    first, second = client_for(starter), client_for(starter)
    assert_ok(first.post("/api/auth/revoke-all"), 200, "All tokens revoked successfully")
    assert first.get("/api/user").status_code == 401 and second.get("/api/user").status_code == 401


def test_login_with_wrong_credentials_is_401(starter):
    response = APIClient().post("/api/auth/login", {"email": "jane@example.com", "password": "wrong"})
    assert response.status_code == 401 and response.json()["success"] is False


def test_login_needs_a_verified_address():
    make_user("new@example.com", verified=False)
    response = APIClient().post("/api/auth/login", {"email": "new@example.com", "password": "Secret-pass-1"})
    assert response.status_code == 403 and "Verify your email" in response.json()["message"]


# --- Images ---------------------------------------------------------------------------------


def test_upscale(starter):
    api = client_for(starter)
    response = api.post("/api/images/upscale", {"image": encode(photo(size=(64, 48)), "JPEG"), "scale_factor": 2})
    data = assert_ok(response, 202, "Image uploaded and queued for processing")
    assert_shape(data, UPLOADED)
    assert (data["status"], data["scale_factor"], data["target_width"], data["target_height"]) == (
        "pending", 2, None, None
    )  # fmt: skip
    assert data["api_request"] is True
    assert (response["X-RateLimit-Limit"], response["X-RateLimit-Remaining"]) == ("25", "24")


def test_upscale_defaults_to_2x_and_takes_a_target_size(starter):
    api = client_for(starter)
    default = api.post("/api/images/upscale", {"image": encode(photo(size=(64, 48)))}).json()["data"]
    assert default["scale_factor"] == 2
    sized = api.post("/api/images/upscale", {"image": encode(photo(size=(64, 48))), "target_width": 100})
    data = sized.json()["data"]
    # The omitted side "is calculated automatically to preserve aspect ratio".
    assert (data["scale_factor"], data["target_width"], data["target_height"]) == (None, 100, 75)


def test_get_an_image(starter):
    image = make_image(starter, status=Image.Status.COMPLETED)
    data = assert_ok(client_for(starter).get(f"/api/images/{image.pk}"), 200, "Image retrieved successfully")
    assert_shape(data, IMAGE)
    assert data["status"] == "completed" and data["download_url"].startswith("http")
    assert data["upscaled_dimensions"] == f"{image.upscaled_width}x{image.upscaled_height}"
    assert data["original_dimensions_formatted"] == f"{image.original_width} x {image.original_height}"


def test_list_images(starter):
    done = make_image(starter, status=Image.Status.COMPLETED)
    make_image(starter)
    response = client_for(starter).get("/api/images?per_page=10&status=completed")
    data = assert_ok(response, 200, "Images retrieved successfully")
    body = response.json()
    assert [d["id"] for d in data] == [str(done.pk)]
    assert_shape(data[0], IMAGE)
    assert_shape(body["meta"], PAGE_META, "meta")
    assert_shape(body["links"], PAGE_LINKS, "links")
    assert body["meta"] == {"current_page": 1, "last_page": 1, "per_page": 10, "total": 1}
    assert "X-RateLimit-Remaining" in response


def test_download(starter):
    api = client_for(starter)
    done = make_image(starter, status=Image.Status.COMPLETED)
    data = assert_ok(api.get(f"/api/images/{done.pk}/download"), 200, "Download URL generated successfully")
    assert_shape(data, {"download_url": str, "filename": str})

    waiting = make_image(starter)
    refused = api.get(f"/api/images/{waiting.pk}/download")
    assert refused.status_code == 400 and "only completed images" in refused.json()["message"]


def test_delete_an_image(starter):
    image = make_image(starter)
    assert_ok(client_for(starter).delete(f"/api/images/{image.pk}"), 200, "Image deleted successfully")
    assert not Image.objects.filter(pk=image.pk).exists()


def test_image_statuses_are_the_documented_four_and_expired():
    # "expired" (files deleted after the plan's retention) is ours: a deviation the README lists.
    assert Image.Status.values == ["pending", "processing", "completed", "failed", "expired"]


# --- Batches --------------------------------------------------------------------------------


def test_create_a_batch_with_images_brackets(pro):
    files = [encode(photo(size=(32, 24)), "PNG", name=f"photo{i}.png") for i in range(3)]
    response = client_for(pro).post("/api/batches", {"images[]": files, "scale_factor": 2, "name": "Product photos"})
    data = assert_ok(response, 202, "Batch created and images queued for processing")
    assert_shape(data, BATCH)
    assert (data["name"], data["status"], data["total_images"], data["progress"]) == ("Product photos", "pending", 3, 0)
    assert data["completed_at"] is None
    for image in data["images"]:
        assert_shape(image, {"id": ID, "batch_id": ID, "original_filename": str, "status": str})


def test_get_list_and_cancel_batches(pro):
    api = client_for(pro)
    files = [encode(photo(size=(32, 24)), "PNG", name=f"photo{i}.png") for i in range(2)]
    batch_id = api.post("/api/batches", {"images[]": files}).json()["data"]["id"]
    data = assert_ok(api.get(f"/api/batches/{batch_id}"), 200, "Batch retrieved successfully")
    assert_shape(data, BATCH)
    listing = api.get("/api/batches?per_page=15&status=pending")
    assert_ok(listing, 200, "Batches retrieved successfully")
    assert_shape(listing.json()["meta"], PAGE_META, "meta")
    assert_ok(api.delete(f"/api/batches/{batch_id}"), 200, "Batch cancelled successfully")


def test_batch_statuses_are_the_documented_six():
    from batches.models import Batch

    assert Batch.Status.values == ["pending", "processing", "completed", "partially_failed", "failed", "cancelled"]


def test_batches_are_for_professional_and_enterprise(starter):
    files = [encode(photo(size=(32, 24)), "PNG", name="a.png")]
    response = client_for(starter).post("/api/batches", {"images[]": files})
    assert response.status_code == 403 and "batches" in response.json()["message"]


# --- Account --------------------------------------------------------------------------------


def test_user(starter):
    data = assert_ok(client_for(starter).get("/api/user"), 200, "User retrieved successfully")
    assert_shape(data, USER)
    assert data["name"] == "Jane Smith" and data["pricing_plan"]["name"] == "Starter"


def test_usage(starter):
    reserve_images(starter.personal_workspace, 5)
    data = assert_ok(client_for(starter).get("/api/usage"), 200, "Usage statistics retrieved successfully")
    assert_shape(data, {"plan": str, "image_uploads": {"used": int, "limit": int, "remaining": int,
                                                        "unlimited": bool, "exceeded": bool, "percentage": float},
                        "features": list})  # fmt: skip
    assert data["plan"] == "starter"
    uploads = data["image_uploads"]
    assert (uploads["used"], uploads["limit"], uploads["remaining"], uploads["percentage"]) == (5, 25, 20, 20.0)
    assert "api_access" in data["features"] and all(isinstance(f, str) for f in data["features"])


@pytest.mark.parametrize("plan", ["free", "starter"])
def test_subscription(plan):
    person = make_user(f"{plan}@example.com")
    if plan != "free":
        Subscription.objects.create(workspace=person.personal_workspace, plan=Plan.objects.get(slug=plan))
    data = assert_ok(client_for(person).get("/api/subscription"), 200, "Subscription details retrieved successfully")
    assert_shape(data["subscription"], {
        "id": (int, NULL), "type": str, "status": str, "quantity": int, "trial_ends_at": (TIMESTAMP, NULL),
        "ends_at": (TIMESTAMP, NULL), "created_at": TIMESTAMP, "is_active": bool, "is_on_trial": bool,
        "is_cancelled": bool, "is_on_grace_period": bool,
    }, "data.subscription")  # fmt: skip
    assert (data["subscription"]["status"], data["subscription"]["type"]) == ("active", "default")
    assert_shape(data["plan"], {"name": str, "slug": str, "price": int, "features": list, "limits": list},
                 "data.plan")  # fmt: skip
    assert data["plan"]["slug"] == plan


def test_tokens(starter):
    api = client_for(starter)
    data = assert_ok(api.get("/api/user/tokens"), 200, "API tokens retrieved successfully")
    assert data["count"] == 1
    assert_shape(data["tokens"][0], {"id": int, "name": str, "abilities": list, "last_used_at": (TIMESTAMP, NULL),
                                     "created_at": TIMESTAMP})  # fmt: skip
    other = client_for(starter)
    token_id = max(t["id"] for t in api.get("/api/user/tokens").json()["data"]["tokens"])  # other's
    assert_ok(api.delete(f"/api/user/tokens/{token_id}"), 200, "Token revoked successfully")
    assert other.get("/api/user").status_code == 401
    assert api.delete(f"/api/user/tokens/{token_id}").status_code == 404


# --- Rate limits and errors -------------------------------------------------------------------


def test_the_plans_have_the_documented_limits():
    limits = {p.slug: (p.requests_per_hour, p.images_per_month) for p in Plan.objects.all()}
    assert limits == {"free": (100, 2), "starter": (500, 25), "professional": (2000, 250), "enterprise": (10000, 1000)}


def test_unauthenticated_requests_are_limited_to_10_an_hour(settings):
    assert settings.ANON_REQUESTS_PER_HOUR == 10
    anonymous = APIClient()
    assert [anonymous.get("/api/images").status_code for _ in range(11)] == [401] * 10 + [429]


@pytest.mark.parametrize("header", [None, "Bearer nope"])
def test_401_missing_or_invalid_token(header):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/images")
    assert response.status_code == 401
    assert response.json()["success"] is False and response.json()["message"]


def test_403_quota_exceeded(starter):
    reserve_images(starter.personal_workspace, 25)
    response = client_for(starter).post("/api/images/upscale", {"image": encode(photo(size=(32, 24)))})
    assert response.status_code == 403 and "quota" in response.json()["message"]


def test_404_image_and_token_not_found(starter):
    api = client_for(starter)
    assert api.get(f"/api/images/{uuid.uuid4()}").status_code == 404
    assert api.get("/api/images/42").status_code == 404  # an integer id, as the page's examples use
    assert api.delete("/api/user/tokens/999999").status_code == 404


def test_422_is_validation_failed_with_field_errors(starter):
    response = client_for(starter).post("/api/images/upscale", {"scale_factor": 1})
    assert response.status_code == 422
    assert response.json() == {
        "success": False,
        "message": "Validation failed",
        "errors": {
            "image": ["The image field is required."],
            "scale_factor": ["The scale factor must be a number from 1.5 to 4."],
        },
    }


def test_429_too_many_requests(starter):
    Plan.objects.filter(slug="starter").update(requests_per_hour=1)
    api = client_for(starter)
    assert api.get("/api/images").status_code == 200
    response = api.get("/api/images")
    assert response.status_code == 429 and int(response["Retry-After"]) > 0


def client_for_key(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client
