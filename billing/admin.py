"""Staff edit plans, assign a plan to a workspace (no Stripe needed), and see usage."""

from django.contrib import admin

from billing.models import MonthlyUsage, Plan, Subscription


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "price", "requests_per_hour", "images_per_month", "max_scale", "batches",
                    "api_access", "priority_support", "retention_days", "stripe_price_id"]  # fmt: skip
    list_editable = ["requests_per_hour", "images_per_month", "max_scale", "batches", "api_access",
                     "priority_support", "retention_days"]  # fmt: skip
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["workspace", "plan", "status", "image_quota", "trial_ends_at", "ends_at", "updated_at"]
    list_filter = ["plan", "status"]
    search_fields = ["workspace__name", "stripe_customer_id", "stripe_subscription_id"]
    autocomplete_fields = ["workspace"]


@admin.register(MonthlyUsage)
class MonthlyUsageAdmin(admin.ModelAdmin):
    list_display = ["workspace", "month", "images"]
    list_filter = ["month"]
    search_fields = ["workspace__name"]
    date_hierarchy = "month"
