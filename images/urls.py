from django.urls import path

from images import views

app_name = "images"

urlpatterns = [
    path("api/images/upscale", views.UpscaleView.as_view(), name="upscale"),
    path("api/images", views.ImageListView.as_view(), name="list"),
    path("api/images/<uuid:pk>", views.ImageDetailView.as_view(), name="detail"),
    path("api/images/<uuid:pk>/download", views.ImageDownloadView.as_view(), name="download"),
    path("files/<str:token>", views.download_file, name="file"),
]
