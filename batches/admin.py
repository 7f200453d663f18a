"""The staff back office for batches: filters, their images, and cancelling."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from batches import jobs
from batches.models import Batch
from images.admin import thumbnail_tag
from images.models import Image


class ImageInline(admin.TabularInline):
    model = Image
    fields = ["thumbnail", "original_filename", "status", "error", "processing_time"]
    readonly_fields = ["thumbnail", "original_filename", "status", "error", "processing_time"]
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="Original")
    def thumbnail(self, image: Image) -> str:
        return thumbnail_tag(image, "original")


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ["__str__", "workspace", "status", "progress", "total_images", "completed_images",
                    "failed_images", "model", "created_at", "completed_at"]  # fmt: skip
    list_filter = ["status", "created_at", "workspace"]
    search_fields = ["id", "name", "workspace__name", "created_by__email"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Batch._meta.fields]
    list_select_related = ["workspace"]
    inlines = [ImageInline]
    actions = ["cancel"]

    @admin.display(description="Progress")
    def progress(self, batch: Batch) -> str:
        return f"{batch.progress} %"

    @admin.action(description="Cancel the selected unfinished batches")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Batch]) -> None:
        batches = [batch for batch in queryset if not batch.is_finished]
        images = sum(jobs.cancel(batch) for batch in batches)
        self.message_user(request, f"Cancelled {len(batches)} batch(es), {images} unfinished image(s).",
                          messages.SUCCESS)  # fmt: skip
