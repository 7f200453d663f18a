from django.contrib import admin

from images.models import Image


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["original_filename", "owner", "status", "model", "original_dimensions", "target_width",
                    "target_height", "processing_time", "created_at"]  # fmt: skip
    list_filter = ["status", "model", "created_at"]
    search_fields = ["id", "original_filename", "owner__email", "owner__username"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Image._meta.fields]
    list_select_related = ["owner"]
