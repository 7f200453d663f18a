"""The staff back office for images: filters, thumbnails, and retrying failed jobs."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from billing.quota import QuotaExceeded
from images import files, jobs
from images.models import Image

#: The admin's thumbnail URLs name these, for the previews the worker stored.
PREVIEWS = {"original": "original_thumbnail", "result": "result_thumbnail"}


def thumbnail_tag(image: Image, which: str) -> str:
    """An <img> of the original or the result, served by :meth:`ImageAdmin.thumbnail_view`."""
    field = getattr(image, PREVIEWS[which])
    if not field:
        return "—"
    url = reverse("admin:images_image_thumbnail", args=[image.pk, which])
    return format_html('<img src="{}" alt="{} of {}" loading="lazy" style="max-height:80px;max-width:120px">',
                       url, which, image.original_filename)  # fmt: skip


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["thumbnail", "original_filename", "workspace", "status", "model_used", "worker",
                    "original_dimensions", "target_width", "target_height", "processing_time", "batch",
                    "created_at"]  # fmt: skip
    list_filter = ["status", "model_used", "created_at", "workspace"]
    search_fields = ["id", "original_filename", "workspace__name", "created_by__email", "batch__id"]
    date_hierarchy = "created_at"
    readonly_fields = ["original_preview", "result_preview", *(f.name for f in Image._meta.fields)]
    list_select_related = ["workspace", "batch"]
    actions = ["retry"]

    def get_urls(self):
        view = self.admin_site.admin_view(self.thumbnail_view)
        own = [path("<uuid:pk>/thumbnail/<str:which>/", view, name="images_image_thumbnail")]
        return own + super().get_urls()

    def thumbnail_view(self, request: HttpRequest, pk: str, which: str) -> HttpResponseBase:
        if which not in PREVIEWS or not self.has_view_permission(request):
            raise Http404
        image = get_object_or_404(Image, pk=pk)
        field = getattr(image, PREVIEWS[which])
        if not field:
            raise Http404("No preview yet.")
        response = files.serve(field, fmt="JPEG", filename=f"{which}.jpg", inline=True)
        response["Cache-Control"] = "private, max-age=3600"
        return response

    @admin.display(description="Original")
    def thumbnail(self, image: Image) -> str:
        return thumbnail_tag(image, "original")

    @admin.display(description="Original")
    def original_preview(self, image: Image) -> str:
        return thumbnail_tag(image, "original")

    @admin.display(description="Result")
    def result_preview(self, image: Image) -> str:
        return thumbnail_tag(image, "result")

    @admin.action(description="Retry the selected failed images")
    def retry(self, request: HttpRequest, queryset: QuerySet[Image]) -> None:
        failed = list(queryset.filter(status=Image.Status.FAILED).select_related("batch", "workspace"))
        retried, skipped = 0, queryset.count() - len(failed)
        for image in failed:
            try:
                if jobs.retry(image):
                    retried += 1
                else:
                    skipped += 1
            except QuotaExceeded as exc:
                self.message_user(request, f"{image.original_filename}: {exc}", messages.WARNING)
                skipped += 1
        self.message_user(request, f"Queued {retried} image(s) again; skipped {skipped}.", messages.SUCCESS)
