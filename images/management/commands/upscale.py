"""``manage.py upscale INPUT OUTPUT``: the worker's inference on a local file, no server needed."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Upscale a local image file with the same models and pipeline the workers use."
    # Works without a database: inference needs none.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        from inference import MODELS

        parser.add_argument("input", type=Path)
        parser.add_argument("output", type=Path)
        size = parser.add_mutually_exclusive_group()
        size.add_argument("--scale", type=int, choices=[2, 3, 4, 8, 16], help="scale factor (default 2)")
        size.add_argument("--width", type=int, help="target width in pixels")
        parser.add_argument("--height", type=int, help="target height in pixels")
        parser.add_argument("--model", default=settings.UPSCALE_DEFAULT_MODEL, choices=["auto", *sorted(MODELS)])
        parser.add_argument("--max-quality", action="store_true", help="self-ensemble (x8 slower; precise model only)")
        parser.add_argument("--tile", type=int, help="tile size in input pixels")
        parser.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA if available)")

    def handle(self, *args, **opts) -> None:
        import torch

        from inference.auto import choose_model
        from inference.imageio import ALLOWED_FORMATS, InvalidImage, encode, open_image
        from inference.pipeline import upscale_image
        from inference.sizing import SizeError, output_size

        if opts["scale"] and opts["height"]:
            raise CommandError("Give either --scale or --width/--height.")
        if not opts["input"].is_file():
            raise CommandError(f"No such file: {opts['input']}")
        try:
            source = open_image(str(opts["input"]), max_pixels=int(settings.UPSCALE_MAX_OUTPUT_MEGAPIXELS * 1e6))
            size = output_size(
                source.size,
                scale_factor=opts["scale"],
                target_width=opts["width"],
                target_height=opts["height"],
                max_scale=settings.UPSCALE_MAX_SCALE,
            )
        except (InvalidImage, SizeError) as exc:
            raise CommandError(str(exc)) from None

        model, why = opts["model"], ""
        if model == "auto":
            choice = choose_model(source.image, source.format, source.jpeg_quality)
            model, why = choice.model, f" ({choice.reason})"
        if opts["max_quality"] and model != "precise":
            raise CommandError("--max-quality is only available with the precise model.")
        device = torch.device(opts["device"]) if opts["device"] else None
        result = upscale_image(
            source.pixels, size, model=model, device=device, tile=opts["tile"], max_quality=opts["max_quality"]
        )

        suffix = opts["output"].suffix.lower().lstrip(".")
        by_suffix = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "bmp": "BMP",
                     "tif": "TIFF", "tiff": "TIFF", "gif": "GIF"}  # fmt: skip
        fmt = by_suffix.get(suffix)
        if fmt not in ALLOWED_FORMATS:
            fmt = None
        with open(opts["output"], "wb") as out:
            written = encode(result.image, source, out, fmt=fmt)
        width, height = result.size
        chain = " -> ".join(f"x{s}" for s in result.scale_chain)
        self.stdout.write(
            f"{opts['input']} {source.size[0]}x{source.size[1]} -> {opts['output']} {width}x{height} {written} "
            f"({result.model}{why}, {chain}, {result.device}, {result.seconds:.1f} s)"
        )
