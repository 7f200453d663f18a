from django.apps import AppConfig


class BatchesConfig(AppConfig):
    name = "batches"
    verbose_name = "Batches"

    def ready(self) -> None:
        from batches import jobs  # noqa: F401  (connects the receivers that keep the counters)
        from batches.views import statuses
        from images.views import STATUS_SECTIONS

        STATUS_SECTIONS["batches"] = statuses
