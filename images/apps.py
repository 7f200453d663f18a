from django.apps import AppConfig
from django.conf import settings


class ImagesConfig(AppConfig):
    name = "images"
    verbose_name = "Images"

    def ready(self) -> None:
        from PIL import Image as PILImage

        from images import metrics, signals  # noqa: F401
        from upscaler_site.metrics import register_state

        register_state(metrics.JobsCollector())

        # Pillow's own decompression-bomb guard, at the largest image any plan accepts; ours
        # (inference.imageio) refuses at the workspace's plan before that.
        PILImage.MAX_IMAGE_PIXELS = int(settings.UPSCALE_MAX_OUTPUT_MEGAPIXELS * 1_000_000)
