"""The webhooks API and pages: endpoints, secrets shown once, validation in the envelope, the delivery log,
test events, redelivery, and one workspace never seeing another's."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import Ability, ApiToken
from webhooks.models import Delivery, Endpoint, EventType, RequestSigningKeys

pytestmark = pytest.mark.django_db

URL = "https://shop.example.com/hooks"


def create(api, **body):
    return api.post("/api/webhooks", {"url": URL, **body}, format="json")


def test_an_endpoint_is_created_with_its_secret_shown_once(api):
    response = create(
        api, events=["image.failed", "image.completed", "image.failed"], headers={"X-Shop": "eu"}, description="Shop"
    )
    assert response.status_code == 201, response.json()
    data = response.json()["data"]
    assert data["secret"].startswith("whsec_") and data["events"] == ["image.completed", "image.failed"]
    assert data["headers"] == {"X-Shop": "eu"} and data["active"] is True
    shown = api.get(f"/api/webhooks/{data['id']}").json()["data"]
    assert "secret" not in shown and shown["url"] == URL
    assert [e["id"] for e in api.get("/api/webhooks").json()["data"]] == [data["id"]]


def test_an_endpoint_receives_every_event_by_default(api):
    assert create(api).json()["data"]["events"] == list(EventType.values)


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"url": "ftp://example.com/x"}, "url", "http:// or https://"),
        ({"url": "https://user:pw@example.com/"}, "url", "user name or password"),
        ({"events": ["image.done"]}, "events.0", "must be image.completed"),
        ({"events": []}, "events", "required"),
        ({"headers": {"Bad Name": "x"}}, "headers", "not a valid header name"),
        ({"headers": {"X-A": "line\r\nInjected: yes"}}, "headers", "printable"),
        ({"headers": {"webhook-signature": "v1,forged"}}, "headers", "set by the service"),
        ({"headers": ["X-A"]}, "headers", "object of header names"),
    ],
)
def test_invalid_endpoints_are_refused_in_the_envelope(api, body, field, message):
    response = create(api, **body)
    assert response.status_code == 422, response.json()
    assert message in " ".join(response.json()["errors"][field])
    assert not Endpoint.objects.exists()


def test_an_endpoint_is_changed_disabled_enabled_and_deleted(api, workspace):
    pk = create(api).json()["data"]["id"]
    endpoint = Endpoint.objects.get(pk=pk)
    Delivery.objects.create(workspace=workspace, endpoint=endpoint, url=URL, event_type="image.failed")
    response = api.patch(f"/api/webhooks/{pk}", {"events": ["batch.failed"], "active": False}, format="json")
    data = response.json()["data"]
    assert data["events"] == ["batch.failed"] and data["active"] is False and data["disabled_reason"]
    assert Delivery.objects.get().status == Delivery.Status.FAILED  # nothing more is sent to it
    data = api.patch(f"/api/webhooks/{pk}", {"active": True}, format="json").json()["data"]
    assert data["active"] is True and data["disabled_reason"] == ""
    assert api.patch(f"/api/webhooks/{pk}", {"url": "gopher://x"}, format="json").status_code == 422
    assert api.delete(f"/api/webhooks/{pk}").status_code == 200
    assert not Endpoint.objects.exists() and not Delivery.objects.exists()


def test_rotating_a_secret_returns_the_new_one(api):
    created = create(api).json()["data"]
    rotated = api.post(f"/api/webhooks/{created['id']}/rotate-secret").json()["data"]
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
    assert Endpoint.objects.get().signing_secrets() == [rotated["secret"], created["secret"]]


def test_the_delivery_log_a_test_event_and_a_redelivery(api):
    pk = create(api).json()["data"]["id"]
    queued = api.post(f"/api/webhooks/{pk}/test")
    assert queued.status_code == 202
    delivery = queued.json()["data"]
    assert delivery["event_type"] == "image.completed" and delivery["status"] == "pending"
    assert delivery["webhook_id"] == f"msg_{delivery['id'].replace('-', '')}"
    log = api.get(f"/api/webhooks/{pk}/deliveries").json()
    assert [d["id"] for d in log["data"]] == [delivery["id"]] and log["meta"]["total"] == 1
    assert api.get(f"/api/webhooks/{pk}/deliveries?status=succeeded").json()["data"] == []
    again = api.post(f"/api/webhooks/{pk}/deliveries/{delivery['id']}/redeliver")
    assert again.status_code == 202


def test_the_per_request_secret_is_shown_and_rotated(api, workspace):
    secret = api.get("/api/webhooks/secret").json()["data"]["secret"]
    assert secret == RequestSigningKeys.of(workspace.pk).secret
    rotated = api.post("/api/webhooks/secret/rotate").json()["data"]["secret"]
    assert rotated != secret and api.get("/api/webhooks/secret").json()["data"]["secret"] == rotated


def test_another_workspace_sees_none_of_it(api, other_user):
    pk = create(api).json()["data"]["id"]
    delivery_id = api.post(f"/api/webhooks/{pk}/test").json()["data"]["id"]
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(other_user, other_user.personal_workspace, 'o')[1]}")
    assert other.get("/api/webhooks").json()["data"] == []
    for response in (
        other.get(f"/api/webhooks/{pk}"),
        other.patch(f"/api/webhooks/{pk}", {}, format="json"),
        other.delete(f"/api/webhooks/{pk}"),
        other.get(f"/api/webhooks/{pk}/deliveries"),
        other.post(f"/api/webhooks/{pk}/test"),
        other.post(f"/api/webhooks/{pk}/rotate-secret"),
        other.post(f"/api/webhooks/{pk}/deliveries/{delivery_id}/redeliver"),
    ):
        assert response.status_code == 404
    assert (
        other.get("/api/webhooks/secret").json()["data"]["secret"]
        != api.get("/api/webhooks/secret").json()["data"]["secret"]
    )


def test_managing_webhooks_needs_the_webhooks_ability(user):
    client = APIClient()
    key = ApiToken.issue(user, user.personal_workspace, "images only", [Ability.IMAGES_READ, Ability.IMAGES_WRITE])[1]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = client.get("/api/webhooks")
    assert response.status_code == 403 and "webhooks:write" in response.json()["message"]


def test_the_dashboard_adds_tests_disables_and_deletes_an_endpoint(client, user):
    client.force_login(user)
    page = client.get(reverse("webhooks_web:webhooks"))
    assert page.status_code == 200 and RequestSigningKeys.of(user.personal_workspace.pk).secret in page.text
    refused = client.post(
        reverse("webhooks_web:webhooks"), {"url": "http://x y", "events": ["image.failed"], "headers": "no colon"}
    )
    assert refused.status_code == 200 and "Name: value" in refused.text and not Endpoint.objects.exists()
    added = client.post(
        reverse("webhooks_web:webhooks"),
        {"url": URL, "events": ["image.failed"], "headers": "X-Shop: eu\nAuthorization: Bearer s"},
        follow=True,
    )
    endpoint = Endpoint.objects.get()
    assert endpoint.headers == {"X-Shop": "eu", "Authorization": "Bearer s"}
    assert endpoint.secret in added.text  # once,
    assert endpoint.secret not in client.get(reverse("webhooks_web:endpoint", args=[endpoint.pk])).text  # not twice
    client.post(reverse("webhooks_web:endpoint_test", args=[endpoint.pk]))
    page = client.get(reverse("webhooks_web:endpoint", args=[endpoint.pk]))
    assert "image.completed" in page.text and "(test)" in page.text
    client.post(reverse("webhooks_web:endpoint_active", args=[endpoint.pk]), {"active": "0"})
    endpoint.refresh_from_db()
    assert not endpoint.active
    rotated = client.post(reverse("webhooks_web:endpoint_rotate", args=[endpoint.pk]), follow=True)
    endpoint.refresh_from_db()
    assert endpoint.secret in rotated.text
    client.post(reverse("webhooks_web:endpoint_delete", args=[endpoint.pk]))
    assert not Endpoint.objects.exists()


def test_the_dashboard_shows_only_the_current_workspace_endpoints(client, user, other_user):
    other = Endpoint.objects.create(workspace=other_user.personal_workspace, url=URL, events=["image.failed"])
    client.force_login(user)
    assert client.get(reverse("webhooks_web:endpoint", args=[other.pk])).status_code == 404
    assert client.post(reverse("webhooks_web:endpoint_delete", args=[other.pk])).status_code == 404
    assert Endpoint.objects.filter(pk=other.pk).exists()


def test_a_bad_webhook_url_or_headers_are_refused_at_upload(api, small_photo):
    from upscaler_site.testing import encode

    jpeg = encode(small_photo, "JPEG")
    for fields, field, message in (
        ({"webhook_url": "ftp://example.com/"}, "webhook_url", "http:// or https://"),
        ({"webhook_url": "https://example.com/", "webhook_headers": "{not json"}, "webhook_headers", "JSON object"),
        ({"webhook_url": "https://example.com/", "webhook_headers": '{"Host": "x"}'}, "webhook_headers", "set by"),
    ):
        jpeg.seek(0)
        response = api.post("/api/images/upscale", {"image": jpeg, **fields}, format="multipart")
        assert response.status_code == 422, response.json()
        assert message in " ".join(response.json()["errors"][field])
