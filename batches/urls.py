from django.urls import path

from batches import views

app_name = "batches"

urlpatterns = [
    path("api/batches", views.BatchListView.as_view(), name="list"),
    path("api/batches/<uuid:pk>", views.BatchDetailView.as_view(), name="detail"),
    path("api/batches/<uuid:pk>/archive", views.BatchArchiveView.as_view(), name="archive"),
]
