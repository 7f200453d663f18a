from django.urls import path

from billing import api

app_name = "billing"

urlpatterns = [
    path("api/usage", api.UsageView.as_view(), name="usage"),
    path("api/subscription", api.SubscriptionView.as_view(), name="subscription"),
]
