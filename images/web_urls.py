"""URLs of the dashboard's home and image pages (upload, result, history), its image files and live status."""

from django.urls import path

from images import views

app_name = "images_web"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("upload", views.upload, name="upload"),
    path("history", views.history, name="history"),
    path("images/<uuid:pk>", views.detail, name="detail"),
    path("images/<uuid:pk>/delete", views.delete, name="delete"),
    path("images/<uuid:pk>/original", views.original_file, name="original"),
    path("images/<uuid:pk>/result", views.result_file, name="result"),
    path("images/<uuid:pk>/download", views.download, name="download"),
    path("images/<uuid:pk>/thumbnail", views.thumbnail, name="thumbnail"),
    # Outside /api/: polling is not counted against the hourly API request limit.
    path("app/status", views.status, name="status"),
]
