"""``manage.py upscale INPUT OUTPUT``: the worker's inference on a local file, no server or database needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference import (
    ALLOWED_FORMATS,
    MIN_SCALE_FACTOR,
    MODEL_CHOICES,
    InvalidImage,
    SizeError,
    open_image,
    resolve_options,
)

#: Output file suffixes and the format each one writes.
SUFFIX_FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "bmp": "BMP", "tif": "TIFF",
                  "tiff": "TIFF", "gif": "GIF"}  # fmt: skip


class Command(BaseCommand):
    help = "Upscale a local image file with the same models and pipeline the workers use."
    # Works without a database: inference needs none.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("input", type=Path)
        parser.add_argument("output", type=Path)
        size = parser.add_mutually_exclusive_group()
        size.add_argument("--scale", type=float, help=f"scale factor, {MIN_SCALE_FACTOR:g} or more (default 2)")
        size.add_argument("--width", type=int, help="target width in pixels")
        parser.add_argument("--height", type=int, help="target height in pixels")
        parser.add_argument("--max-width", type=int, help="fit the result in a box this wide")
        parser.add_argument("--max-height", type=int, help="fit the result in a box this high")
        parser.add_argument("--quality", type=int, help="JPEG and WebP quality, 1-100 (default 90)")
        parser.add_argument("--tune-colors", action="store_true", help="match the result's colour to the input's")
        parser.add_argument("--model", default=settings.UPSCALE_DEFAULT_MODEL, choices=MODEL_CHOICES)
        parser.add_argument("--max-quality", action="store_true", help="self-ensemble (x8 slower; precise model only)")
        parser.add_argument("--keep-metadata", action="store_true",
                            help="keep all EXIF (GPS, camera); default: only the technical tags")  # fmt: skip
        parser.add_argument("--tile", type=int, help="tile size in input pixels")
        parser.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA if available)")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["scale"] and opts["height"]:
            raise CommandError("Give either --scale or --width/--height.")
        if not opts["input"].is_file():
            raise CommandError(f"No such file: {opts['input']}")
        max_pixels = int(settings.UPSCALE_MAX_OUTPUT_MEGAPIXELS * 1e6)
        try:
            source = open_image(str(opts["input"]), max_pixels=max_pixels)
            options = resolve_options(
                source.size,
                scale_factor=opts["scale"],
                target_width=opts["width"],
                target_height=opts["height"],
                max_width=opts["max_width"],
                max_height=opts["max_height"],
                model=opts["model"],
                max_quality=opts["max_quality"],
                max_scale=settings.UPSCALE_MAX_SCALE,
                max_output_pixels=max_pixels,
                choose_auto=source.auto_choice,
            )
        except (InvalidImage, SizeError) as exc:
            raise CommandError(str(exc)) from None

        import torch  # only now: the checks above answer without loading PyTorch

        from inference.pipeline import upscale_source

        assert options.model_used is not None  # "auto" chose from the decoded pixels
        fmt = SUFFIX_FORMATS.get(opts["output"].suffix.lower().lstrip("."))
        with open(opts["output"], "wb") as out:
            result, written = upscale_source(
                source,
                options.size,
                out,
                model=options.model_used,
                max_quality=options.max_quality,
                device=torch.device(opts["device"]) if opts["device"] else None,
                tile=opts["tile"],
                fmt=fmt if fmt in ALLOWED_FORMATS else None,
                quality=opts["quality"],
                keep_metadata=opts["keep_metadata"],
                tune_colors=opts["tune_colors"],
            )
        width, height = result.size
        chain = " -> ".join(f"x{s}" for s in result.scale_chain) or "no network pass"
        why = f" ({options.model_reason})" if options.model_reason else ""
        self.stdout.write(
            f"{opts['input']} {source.size[0]}x{source.size[1]} -> {opts['output']} {width}x{height} {written} "
            f"({result.model}{why}, {chain}, {result.device}, {result.seconds:.1f} s)"
        )
