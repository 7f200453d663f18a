"""URLs of the dashboard's image pages (upload, result, history), its image files and live status."""

from django.urls import path

from images import web_views

app_name = "images_web"

urlpatterns = [
    path("upload", web_views.upload, name="upload"),
    path("history", web_views.history, name="history"),
    path("images/<uuid:pk>", web_views.detail, name="detail"),
    path("images/<uuid:pk>/delete", web_views.delete, name="delete"),
    path("images/<uuid:pk>/original", web_views.original_file, name="original"),
    path("images/<uuid:pk>/result", web_views.result_file, name="result"),
    path("images/<uuid:pk>/download", web_views.download, name="download"),
    path("images/<uuid:pk>/thumbnail", web_views.thumbnail, name="thumbnail"),
    # Outside /api/: polling is not counted against the hourly API request limit.
    path("app/status", web_views.status, name="status"),
]
