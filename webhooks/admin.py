"""The staff back office for webhooks: endpoints, their delivery logs, and redelivery."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from webhooks import events
from webhooks.models import Attempt, Delivery, Endpoint

LOG_FIELDS = ("number", "at", "status_code", "duration_ms", "response", "manual")


class AttemptInline(admin.TabularInline):
    model = Attempt
    fields = readonly_fields = LOG_FIELDS
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "workspace", "active", "disabled_reason", "created_at"]
    list_filter = ["active", "created_at"]
    search_fields = ["url", "workspace__name", "description"]
    exclude = ["secret", "previous_secret"]  # secrets are for the workspace, not the back office
    readonly_fields = ["previous_expires_at", "disabled_reason", "created_at", "updated_at"]
    list_select_related = ["workspace"]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["event_type", "url", "workspace", "status", "attempts", "next_attempt_at", "created_at"]
    list_filter = ["status", "event_type", "created_at"]
    search_fields = ["id", "url", "workspace__name", "image_id", "batch_id"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Delivery._meta.fields]
    list_select_related = ["workspace"]
    inlines = [AttemptInline]
    actions = ["redeliver"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Redeliver now")
    def redeliver(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        for delivery in queryset:
            events.redeliver(delivery)
        self.message_user(request, f"{queryset.count()} redelivery(ies) queued.", messages.SUCCESS)
