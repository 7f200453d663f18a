"""The webhooks API: endpoints, their secrets, their delivery logs, test events and redelivery.

Thin views over :mod:`webhooks.models`, :mod:`webhooks.events` and :mod:`webhooks.delivery`.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Ability
from accounts.permissions import request_workspace
from accounts.requests import ApiRequest
from billing.api import QuotaHeadersMixin
from upscaler_site.api import ok, paginated_by_status
from upscaler_site.openapi import MESSAGE, envelope, list_parameters, paginated
from webhooks import endpoints, events, examples
from webhooks.models import Delivery, Endpoint, RequestSigningKeys
from webhooks.serializers import (
    DeliverySerializer,
    EndpointRequestSerializer,
    EndpointSerializer,
    EndpointWithSecretSerializer,
    SecretSerializer,
)

ENDPOINT = envelope("WebhookEndpointResponse", EndpointSerializer())
WITH_SECRET = envelope("WebhookEndpointWithSecretResponse", EndpointWithSecretSerializer())
DELIVERY = envelope("WebhookDeliveryResponse", DeliverySerializer())
SECRET = envelope("WebhookSecretResponse", SecretSerializer())
SIGNED = "Each delivery is signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature)."


def workspace_endpoint(request: ApiRequest, pk: object) -> Endpoint:
    return get_object_or_404(Endpoint.objects.in_workspace(request_workspace(request)), pk=pk)


class WebhookView(QuotaHeadersMixin, APIView):
    required_abilities = {method: Ability.WEBHOOKS_WRITE for method in ("GET", "POST", "PATCH", "DELETE")}


class EndpointListView(WebhookView):
    """``GET /api/webhooks`` lists the workspace's endpoints; ``POST`` adds one (its secret shown once)."""

    @extend_schema(
        summary="List webhook endpoints",
        operation_id="webhooks_list",
        responses=envelope("WebhookEndpointListResponse", EndpointSerializer(many=True)),
    )
    def get(self, request: ApiRequest) -> Response:
        found = Endpoint.objects.in_workspace(request_workspace(request))
        return ok(EndpointSerializer(found, many=True).data, "Webhook endpoints retrieved successfully")

    @extend_schema(
        summary="Add a webhook endpoint",
        description=f"Events are POSTed to `url` as they happen. {SIGNED} The signing secret is in this answer only.",
        request=EndpointRequestSerializer,
        responses={201: WITH_SECRET},
        examples=[examples.CREATED],
    )
    def post(self, request: ApiRequest) -> Response:
        serializer = EndpointRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = endpoints.create(request_workspace(request), serializer.validated_data)
        return ok(
            EndpointWithSecretSerializer(endpoint).data,
            "Webhook endpoint created. Copy its secret now: it is not shown again.",
            status.HTTP_201_CREATED,
        )


class EndpointDetailView(WebhookView):
    """``GET``, ``PATCH`` and ``DELETE /api/webhooks/{id}``."""

    @extend_schema(summary="Get a webhook endpoint", responses=ENDPOINT)
    def get(self, request: ApiRequest, pk: str) -> Response:
        return ok(EndpointSerializer(workspace_endpoint(request, pk)).data, "Webhook endpoint retrieved successfully")

    @extend_schema(
        summary="Change a webhook endpoint",
        description="Any of url, description, events, headers and active. `active: false` also fails "
        "its pending deliveries.",
        request=EndpointRequestSerializer,
        responses=ENDPOINT,
    )
    def patch(self, request: ApiRequest, pk: str) -> Response:
        endpoint = workspace_endpoint(request, pk)
        serializer = EndpointRequestSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        endpoints.change(endpoint, serializer.validated_data)
        return ok(EndpointSerializer(endpoint).data, "Webhook endpoint updated successfully")

    @extend_schema(summary="Delete a webhook endpoint", description="With its delivery log.", responses={200: MESSAGE})
    def delete(self, request: ApiRequest, pk: str) -> Response:
        workspace_endpoint(request, pk).delete()
        return ok(None, "Webhook endpoint deleted successfully")


class RotateSecretView(WebhookView):
    """``POST /api/webhooks/{id}/rotate-secret``: a new secret; the old one also signs for 24 hours."""

    @extend_schema(
        summary="Rotate an endpoint's secret",
        description="A new signing secret, shown only here. For 24 hours each delivery carries a "
        "signature with the old secret too, so receivers can switch without losing events.",
        request=None,
        responses=WITH_SECRET,
    )
    def post(self, request: ApiRequest, pk: str) -> Response:
        endpoint = workspace_endpoint(request, pk)
        endpoint.rotate()
        return ok(EndpointWithSecretSerializer(endpoint).data, "Secret rotated. Copy it now: it is not shown again.")


class TestEventView(WebhookView):
    """``POST /api/webhooks/{id}/test``: queue a test event (an ``image.completed`` with ``"test": true``)."""

    @extend_schema(
        summary="Send a test event",
        description='Queues an `image.completed` event about a sample image, with `"test": true`, '
        "to this endpoint; follow it in the delivery log.",
        request=None,
        responses={202: DELIVERY},
    )
    def post(self, request: ApiRequest, pk: str) -> Response:
        delivery = events.send_test(workspace_endpoint(request, pk))
        return ok(DeliverySerializer(delivery).data, "Test event queued", status.HTTP_202_ACCEPTED)


class DeliveryListView(WebhookView):
    """``GET /api/webhooks/{id}/deliveries``: the endpoint's delivery log, newest first."""

    @extend_schema(
        summary="List an endpoint's deliveries",
        description="Each event sent to the endpoint, with every attempt: when, the status code, how "
        "long it took and the start of the answer.",
        parameters=list_parameters(Delivery.Status.values),
        responses=paginated("WebhookDeliveryPage", DeliverySerializer),
    )
    def get(self, request: ApiRequest, pk: str) -> Response:
        deliveries = workspace_endpoint(request, pk).deliveries.prefetch_related("attempt_log")
        return paginated_by_status(
            request, self, deliveries, DeliverySerializer, Delivery.Status.values, "Deliveries retrieved successfully"
        )


class RedeliverView(WebhookView):
    """``POST /api/webhooks/{id}/deliveries/{delivery_id}/redeliver``: one more attempt, now."""

    @extend_schema(
        summary="Redeliver an event",
        description="One more attempt of the delivery, whatever its state, with a fresh body and "
        "signature (the same webhook-id).",
        request=None,
        responses={202: DELIVERY},
    )
    def post(self, request: ApiRequest, pk: str, delivery_id: str) -> Response:
        delivery = get_object_or_404(workspace_endpoint(request, pk).deliveries, pk=delivery_id)
        events.redeliver(delivery)
        return ok(DeliverySerializer(delivery).data, "Redelivery queued", status.HTTP_202_ACCEPTED)


class RequestSecretView(WebhookView):
    """``GET /api/webhooks/secret``: the secret that signs the per-request webhooks (``webhook_url``)."""

    @extend_schema(
        summary="Get the per-request webhook secret",
        description=f"Uploads and batches may name a `webhook_url`. {SIGNED} They are signed with this "
        "workspace secret.",
        responses=SECRET,
    )
    def get(self, request: ApiRequest) -> Response:
        keys = RequestSigningKeys.of(request_workspace(request).pk)
        return ok(SecretSerializer(keys).data, "Webhook secret retrieved successfully")


class RotateRequestSecretView(WebhookView):
    """``POST /api/webhooks/secret/rotate``: a new per-request secret; the old one also signs for 24 hours."""

    @extend_schema(summary="Rotate the per-request webhook secret", request=None, responses=SECRET)
    def post(self, request: ApiRequest) -> Response:
        keys = RequestSigningKeys.of(request_workspace(request).pk)
        keys.rotate()
        return ok(SecretSerializer(keys).data, "Webhook secret rotated successfully")
