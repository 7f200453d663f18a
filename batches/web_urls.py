"""URLs of the dashboard's batch pages."""

from django.urls import path

from batches import views

app_name = "batches_web"

urlpatterns = [
    path("history/batches", views.history, name="history"),
    path("batches/<uuid:pk>", views.detail, name="detail"),
    path("batches/<uuid:pk>/delete", views.delete, name="delete"),
]
