"""URLs of the webhooks pages."""

from django.urls import path

from webhooks import views

app_name = "webhooks_web"

urlpatterns = [
    path("webhooks", views.webhooks, name="webhooks"),
    path("webhooks/<uuid:pk>", views.endpoint, name="endpoint"),
    path("webhooks/<uuid:pk>/test", views.endpoint_test, name="endpoint_test"),
    path("webhooks/<uuid:pk>/active", views.endpoint_active, name="endpoint_active"),
    path("webhooks/<uuid:pk>/rotate", views.endpoint_rotate, name="endpoint_rotate"),
    path("webhooks/<uuid:pk>/delete", views.endpoint_delete, name="endpoint_delete"),
    path(
        "webhooks/<uuid:pk>/deliveries/<uuid:delivery_id>/redeliver",
        views.delivery_redeliver,
        name="delivery_redeliver",
    ),
]
