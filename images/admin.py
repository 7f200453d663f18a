from django.contrib import admin

from images.models import Image


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["original_filename", "workspace", "status", "model", "original_dimensions", "target_width",
                    "target_height", "processing_time", "created_at"]  # fmt: skip
    list_filter = ["status", "model", "created_at", "workspace"]
    search_fields = ["id", "original_filename", "workspace__name", "created_by__email"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Image._meta.fields]
    list_select_related = ["workspace"]
