"""URLs of the batch API."""

from django.urls import path

from batches import api

app_name = "batches"

urlpatterns = [
    path("api/batches", api.BatchListView.as_view(), name="list"),
    path("api/batches/<uuid:pk>", api.BatchDetailView.as_view(), name="detail"),
    path("api/batches/<uuid:pk>/archive", api.BatchArchiveView.as_view(), name="archive"),
]
