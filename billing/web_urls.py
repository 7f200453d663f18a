"""URLs of the billing pages and the Stripe webhook, included under ``billing/``."""

from django.urls import path

from billing import views, webhooks

app_name = "billing_web"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("checkout", views.checkout_redirect, name="checkout"),
    path("portal", views.portal_redirect, name="portal"),
    path("success", views.success, name="success"),
    path("cancel", views.cancel, name="cancel"),
    path("webhook", webhooks.receive, name="webhook"),
]
