"""URLs of the image API, and the signed download links it hands out."""

from django.urls import path

from images import api

app_name = "images"

urlpatterns = [
    path("api/images/upscale", api.UpscaleView.as_view(), name="upscale"),
    path("api/images", api.ImageListView.as_view(), name="list"),
    path("api/images/<uuid:pk>", api.ImageDetailView.as_view(), name="detail"),
    path("api/images/<uuid:pk>/download", api.ImageDownloadView.as_view(), name="download"),
    path("api/images/<uuid:pk>/status", api.ImageStatusView.as_view(), name="status"),
    path("files/<str:token>", api.download_file, name="file"),
]
