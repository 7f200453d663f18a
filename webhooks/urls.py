from django.urls import path

from webhooks import api

app_name = "webhooks"

urlpatterns = [
    path("api/webhooks", api.EndpointListView.as_view(), name="endpoints"),
    path("api/webhooks/secret", api.RequestSecretView.as_view(), name="secret"),
    path("api/webhooks/secret/rotate", api.RotateRequestSecretView.as_view(), name="secret-rotate"),
    path("api/webhooks/<uuid:pk>", api.EndpointDetailView.as_view(), name="endpoint"),
    path("api/webhooks/<uuid:pk>/rotate-secret", api.RotateSecretView.as_view(), name="rotate-secret"),
    path("api/webhooks/<uuid:pk>/test", api.TestEventView.as_view(), name="test"),
    path("api/webhooks/<uuid:pk>/deliveries", api.DeliveryListView.as_view(), name="deliveries"),
    path(
        "api/webhooks/<uuid:pk>/deliveries/<uuid:delivery_id>/redeliver", api.RedeliverView.as_view(), name="redeliver"
    ),
]
