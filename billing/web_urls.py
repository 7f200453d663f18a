"""URLs of the billing pages and the Stripe webhook, included under ``billing/``.

No ``app_name``: like the account pages, the names are global.
"""

from django.urls import path

from billing import views

urlpatterns = [
    path("", views.billing_page, name="billing"),
    path("checkout", views.checkout, name="billing_checkout"),
    path("portal", views.portal, name="billing_portal"),
    path("success", views.success, name="billing_success"),
    path("cancel", views.cancel, name="billing_cancel"),
    path("webhook", views.webhook, name="billing_webhook"),
]
