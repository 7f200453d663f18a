"""URLs of the dashboard's batch page."""

from django.urls import path

from batches import web_views

app_name = "batches_web"

urlpatterns = [
    path("batches/<uuid:pk>", web_views.detail, name="detail"),
    path("batches/<uuid:pk>/delete", web_views.delete, name="delete"),
]
