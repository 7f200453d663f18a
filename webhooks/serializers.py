"""The webhooks API's shapes: endpoints (the secret only when created or rotated), deliveries and their attempts."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from upscaler_site import outbound
from upscaler_site.serializers import OutboundURLField, RequestSerializer, checked
from webhooks.models import Attempt, Delivery, Endpoint, EventType


class EndpointSerializer(serializers.ModelSerializer[Endpoint]):
    """An endpoint as the API shows it; its secret is never shown again after creation or rotation."""

    events = serializers.ListField(child=serializers.ChoiceField(choices=EventType.choices))
    headers = serializers.DictField(child=serializers.CharField(), help_text="Extra HTTP headers sent with each event.")

    class Meta:
        model = Endpoint
        fields = [
            "id",
            "url",
            "description",
            "events",
            "headers",
            "active",
            "disabled_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class EndpointWithSecretSerializer(EndpointSerializer):
    """An endpoint just created, or whose secret was rotated: the only time its secret is shown."""

    secret = serializers.CharField(help_text="whsec_…: verify each delivery's webhook-signature with it.")

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class EndpointRequestSerializer(RequestSerializer):
    """``POST /api/webhooks`` (every field but url optional) and ``PATCH /api/webhooks/{id}`` (all optional)."""

    url = OutboundURLField(max_length=2000, help_text="Where events are POSTed: http(s), a public address.")
    description = serializers.CharField(max_length=255, required=False, allow_blank=True)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices),
        required=False,
        allow_empty=False,
        help_text="The events to receive; default: all of them.",
    )
    headers = serializers.JSONField(
        required=False,
        error_messages={"invalid": "The headers must be a JSON object."},
        help_text='Extra HTTP headers to send, e.g. {"Authorization": "Bearer …"}.',
    )
    active = serializers.BooleanField(required=False, help_text="False stops deliveries; true enables it again.")

    def validate_headers(self, headers: Any) -> dict[str, str]:
        return checked(outbound.check_headers, headers)

    def validate_events(self, events: list[str]) -> list[str]:
        return sorted(set(events), key=EventType.values.index)


class AttemptSerializer(serializers.ModelSerializer[Attempt]):
    class Meta:
        model = Attempt
        fields = ["number", "at", "status_code", "duration_ms", "response", "manual"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer[Delivery]):
    """One event sent (or being sent) to an endpoint, with every attempt, newest first."""

    webhook_id = serializers.CharField(read_only=True, help_text="The webhook-id header: the same on every attempt.")
    attempt_log = AttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "webhook_id",
            "event_type",
            "url",
            "image_id",
            "batch_id",
            "status",
            "attempts",
            "next_attempt_at",
            "created_at",
            "attempt_log",
        ]
        read_only_fields = fields


class SecretSerializer(serializers.Serializer[Any]):
    secret = serializers.CharField(help_text="whsec_…: verify the webhook-signature of per-request webhooks with it.")
