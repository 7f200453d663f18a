from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from upscaler_site.metrics import register_state
        from webhooks import events  # noqa: F401  (connects the receivers that record deliveries)
        from webhooks.metrics import DeliveriesCollector

        register_state(DeliveriesCollector())
