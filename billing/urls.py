"""URLs of the billing API."""

from django.urls import path

from billing import api

app_name = "billing"

urlpatterns = [
    path("api/usage", api.UsageView.as_view(), name="usage"),
    path("api/subscription", api.SubscriptionView.as_view(), name="subscription"),
    path("api/billing/checkout", api.CheckoutApiView.as_view(), name="checkout"),
    path("api/billing/portal", api.PortalApiView.as_view(), name="portal"),
]
