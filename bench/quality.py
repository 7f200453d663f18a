#!/usr/bin/env python
"""Quality benchmark: PSNR/SSIM of the upscaling models on Set5/Set14, as SR papers measure them.

For each dataset, model and scale: crop each HR image to a multiple of the scale, make
the LR input with MATLAB-style bicubic downscaling (:func:`inference.metrics.imresize_bicubic_down`),
upscale it back to the HR size with :func:`inference.pipeline.upscale_image` (one tile, i.e.
whole-image inference, unless told otherwise), and measure PSNR and SSIM on the Y channel
with ``scale`` pixels cropped from each border; average over the images. Plain bicubic
upscaling (Pillow BICUBIC) of the same LR input is the baseline.

``--portrait`` measures the ``portrait`` model instead, on portraits (skimage's astronaut
and Set14's ``face``, ``lenna`` and ``barbara``), x4: PSNR on Y inside the faces (the
cores of :mod:`inference.portrait`, where ``portrait`` is ``precise`` alone), outside
them (beyond the feathers, where it is ``standard`` alone) and on the whole image, for
``standard``, ``precise`` and ``portrait``. The faces are those the detector finds in
the LR input, as ``portrait`` itself finds them.

Usage (from the repository root)::

    .venv/bin/python bench/quality.py [--data DIR [DIR ...]] [--models precise,standard]
        [--scales 2,3,4] [--max-quality] [--tiled-check] [--check-tile 48] [--limit N]
        [--per-image]
    .venv/bin/python bench/quality.py --portrait

Needs neither Django nor the database. Prints a Markdown table on stdout and progress
on stderr. Datasets default to ``<repo root>/../shared/datasets/Set5`` and ``Set14``.
"""

from __future__ import annotations

import argparse
import inspect
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from inference.catalog import MODELS, get_spec  # noqa: E402
from inference.device import default_device  # noqa: E402
from inference.loading import load_network  # noqa: E402
from inference.metrics import imresize_bicubic_down, psnr_y, ssim_y  # noqa: E402
from inference.pipeline import upscale_image  # noqa: E402

DEFAULT_DATA = [REPO_ROOT.parent / "shared" / "datasets" / "Set5", REPO_ROOT.parent / "shared" / "datasets" / "Set14"]
IMAGE_SUFFIXES = {".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Row:
    dataset: str
    method: str
    scale: int
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    seconds: float = 0.0
    names: list[str] = field(default_factory=list)
    tiled_delta: list[float] = field(default_factory=list)  # tiled minus whole-image PSNR, per image
    tiled_maxdiff: int = 0  # largest absolute pixel difference tiled vs whole
    tiles: int = 0  # total tiles used by the tiled run
    dtype: str = "-"  # the network's compute dtype

    @property
    def mean_psnr(self) -> float:
        return float(np.mean(self.psnr))

    @property
    def mean_ssim(self) -> float:
        return float(np.mean(self.ssim))


def load_dataset(folder: Path, limit: int | None) -> list[tuple[str, np.ndarray]]:
    """The HR images of ``folder`` as (name, (H, W, 3) uint8 RGB), sorted by name; grayscale becomes RGB."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if limit:
        files = files[:limit]
    if not files:
        raise SystemExit(f"No images in {folder}.")
    return [(p.stem, np.asarray(Image.open(p).convert("RGB"))) for p in files]


def mod_crop(hr: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so that both sides are multiples of ``scale`` (the literature's ``modcrop``)."""
    h, w = hr.shape[:2]
    return hr[: h - h % scale, : w - w % scale]


def rgb_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """An upscaled image as (H, W, 3) samples, for the metrics on Y."""
    return np.asarray(image.convert("RGB")) if isinstance(image, Image.Image) else image


def precision_kwargs(precision: str | None) -> dict[str, str]:
    """``precision=...`` for :func:`upscale_image` when it takes one and one was asked for."""
    if precision is None:
        return {}
    if "precision" not in inspect.signature(upscale_image).parameters:
        raise SystemExit("This upscale_image has no precision argument.")
    return {"precision": precision}


def network_dtype(model: str, scale: int, precision: str | None) -> str:
    """The dtype the default path computes ``model`` x``scale`` in, as the pipeline decides it."""
    from inference.device import resolve_precision
    from inference.execution import execution_plan

    device = default_device()
    try:
        network = load_network(model, scale, str(device))
        plan = execution_plan(network, device, resolve_precision(precision), tile=get_spec(model).tile, overlap=32)
        return str(plan.dtype).replace("torch.", "")
    except Exception as exc:  # report instead of failing the whole table
        return f"unknown ({type(exc).__name__})"


def precision_note(precision: str | None) -> str:
    """What precision the path of ``upscale_image`` that the benchmark calls runs in on this device."""
    device = default_device()
    params = inspect.signature(upscale_image).parameters
    env = os.environ.get("UPSCALER_PRECISION")
    parts = [f"device {device}"]
    if "precision" in params:
        if precision is None:
            parts.append(f"upscale_image(precision=<default {params['precision'].default!r}>)")
        else:
            parts.append(f"upscale_image(precision={precision!r})")
        parts.append(f"UPSCALER_PRECISION={env!r}")
        from inference.device import cpu_supports_bf16

        parts.append(f"CPU native bfloat16: {cpu_supports_bf16()}")
    else:
        parts.append("upscale_image has no precision argument (float32 on CPU)")
    try:
        autocast = torch.is_autocast_enabled("cpu")
    except TypeError:  # torch < 2.4
        autocast = torch.is_autocast_cpu_enabled()
    parts.append(f"torch autocast (cpu) enabled outside the call: {autocast}")
    parts.append(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    return "; ".join(parts) + ". The dtype column is the network's compute dtype on that path."


def count_tiles(lr_size: tuple[int, int], tile: int) -> int:
    w, h = lr_size
    return -(-w // tile) * -(-h // tile)


def run_model(
    row: Row,
    images: list[tuple[str, np.ndarray]],
    *,
    model: str,
    max_quality: bool,
    tiled_check: bool,
    check_tile: int,
    precision: str | None,
) -> None:
    scale = row.scale
    extra: dict[str, Any] = precision_kwargs(precision)
    row.dtype = network_dtype(model, scale, precision)
    device = default_device()
    for name in get_spec(model).combines or (model,):  # portrait loads the networks it runs
        if scale in get_spec(name).scales:
            load_network(name, scale, str(device))  # load outside the timing
    for name, hr_full in images:
        hr = mod_crop(hr_full, scale)
        lr = Image.fromarray(imresize_bicubic_down(hr, scale))
        hr_size = (hr.shape[1], hr.shape[0])
        whole_tile = max(lr.size)  # one tile: whole-image inference
        started = time.perf_counter()
        result = upscale_image(
            lr, hr_size, model=model, device=device, tile=whole_tile, max_quality=max_quality, **extra
        )
        elapsed = time.perf_counter() - started
        sr = rgb_array(result.image)
        row.seconds += elapsed
        row.names.append(name)
        row.psnr.append(psnr_y(sr, hr, scale))
        row.ssim.append(ssim_y(sr, hr, scale))
        message = (
            f"  {row.dataset} {row.method} x{scale} {name} {lr.size}->{hr_size} chain {result.scale_chain}: "
            f"{row.psnr[-1]:.3f} dB {row.ssim[-1]:.4f} in {elapsed:.1f} s"
        )
        if tiled_check:
            tiled = upscale_image(
                lr, hr_size, model=model, device=device, tile=check_tile, max_quality=max_quality, **extra
            )
            tiled_arr = rgb_array(tiled.image)
            delta = psnr_y(tiled_arr, hr, scale) - row.psnr[-1]
            row.tiled_delta.append(delta)
            row.tiled_maxdiff = max(row.tiled_maxdiff, int(np.abs(tiled_arr.astype(int) - sr).max()))
            n_tiles = count_tiles(lr.size, check_tile)
            row.tiles += n_tiles
            message += f"; tiled ({n_tiles} tiles of {check_tile}) {delta:+.4f} dB"
        log(message)


def run_bicubic(row: Row, images: list[tuple[str, np.ndarray]]) -> None:
    scale = row.scale
    for name, hr_full in images:
        hr = mod_crop(hr_full, scale)
        lr = Image.fromarray(imresize_bicubic_down(hr, scale))
        started = time.perf_counter()
        sr = np.asarray(lr.resize((hr.shape[1], hr.shape[0]), Image.Resampling.BICUBIC))
        row.seconds += time.perf_counter() - started
        row.names.append(name)
        row.psnr.append(psnr_y(sr, hr, scale))
        row.ssim.append(ssim_y(sr, hr, scale))


#: ``--portrait``'s images: (name, dataset folder or None for skimage.data).
PORTRAITS = [("astronaut", None), ("face", "Set14"), ("lenna", "Set14"), ("barbara", "Set14")]


def portrait_table(data_root: Path, precision: str | None) -> list[str]:
    """The ``--portrait`` table's Markdown lines (see the module's docstring)."""
    from skimage import data as skimage_data

    from inference.faces import detect_faces, face_share
    from inference.portrait import blend_weights, plan_regions

    scale, device = 4, default_device()
    extra: dict[str, Any] = precision_kwargs(precision)
    lines = [
        "| image | LR input | faces (share of the image) | model | face PSNR (dB) | outside PSNR (dB) "
        "| whole PSNR (dB) | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, folder in PORTRAITS:
        if folder is None:
            hr_full = getattr(skimage_data, name)()
        else:
            hr_full = np.asarray(Image.open(data_root / folder / f"{name}.png").convert("RGB"))
        hr = mod_crop(hr_full, scale)
        lr = Image.fromarray(imresize_bicubic_down(hr, scale))
        hr_size = (hr.shape[1], hr.shape[0])
        faces = detect_faces(lr)
        # Where portrait is precise alone (weight 1) and standard alone (weight 0), in HR pixels.
        weights = np.zeros(hr.shape[:2], dtype=np.float32)
        for region in plan_regions(faces, lr.size, hr_size):
            x0, y0, x1, y1 = region.out_box
            weights[y0:y1, x0:x1] = np.maximum(weights[y0:y1, x0:x1], blend_weights(region, lr.size, hr_size))
        inside, outside = weights == 1.0, weights == 0.0
        border = np.zeros_like(inside)  # psnr_y leaves out a border of `scale` pixels
        border[scale:-scale, scale:-scale] = True
        found = f"{len(faces)} ({face_share(faces, lr.size):.0%})"
        for model in ("standard", "precise", "portrait"):
            started = time.perf_counter()
            result = upscale_image(lr, hr_size, model=model, device=device, tile=max(lr.size), **extra)
            elapsed = time.perf_counter() - started
            sr = rgb_array(result.image)
            face = f"{psnr_y(sr, hr, scale, inside):.2f}" if (inside & border).any() else "-"
            rest = f"{psnr_y(sr, hr, scale, outside):.2f}" if (outside & border).any() else "-"
            whole = psnr_y(sr, hr, scale)
            log(f"  portrait table: {name} {model}: face {face}, outside {rest}, whole {whole:.2f} in {elapsed:.1f} s")
            lines.append(
                f"| {name} | {lr.size[0]}x{lr.size[1]} | {found} | {model} | {face} | {rest} | {whole:.2f} "
                f"| {elapsed:.1f} |"
            )
    return lines


def command_line() -> str:
    exe = Path(sys.executable)
    try:
        exe_text = str(exe.relative_to(REPO_ROOT)) if exe.is_absolute() else str(exe)
    except ValueError:
        exe_text = str(exe)
    return shlex.join([exe_text, *sys.argv])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", type=Path, default=DEFAULT_DATA, help="folders of HR images")
    parser.add_argument("--models", default="precise,standard", help="comma-separated model names")
    parser.add_argument("--scales", default="2,3,4", help="comma-separated integer scales")
    parser.add_argument("--max-quality", action="store_true", help="add precise + max_quality (self-ensemble) rows")
    parser.add_argument(
        "--tiled-check", action="store_true", help="also run tiled and report tiled - whole-image PSNR per row"
    )
    parser.add_argument(
        "--check-tile", type=int, default=48, help="tile size (LR pixels) for --tiled-check, small to force tiles"
    )
    parser.add_argument("--limit", type=int, default=None, help="only the first N images of each dataset")
    parser.add_argument("--no-bicubic", action="store_true", help="leave out the bicubic baseline rows")
    parser.add_argument(
        "--all-scales", action="store_true", help="also run models at scales they have no native network for"
    )
    parser.add_argument("--per-image", action="store_true", help="also print a per-image PSNR table")
    parser.add_argument(
        "--precision",
        default=None,
        help="pass precision=... (auto, fp32, bf16, fp16) to upscale_image; default: its own default",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument(
        "--portrait", action="store_true", help="only the portrait table: face/outside PSNR of portrait vs the others"
    )
    args = parser.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    args.scales = [int(s) for s in args.scales.split(",") if s.strip()]
    for model in args.models:
        get_spec(model)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    if args.portrait:
        table = portrait_table(REPO_ROOT.parent / "shared" / "datasets", args.precision)
        print(f"Command: `{command_line()}`\n")
        print(f"Precision: {precision_note(args.precision)}\n")
        print("\n".join(table))
        print(f"\nTotal wall time: {time.perf_counter() - started:.0f} s")
        return 0
    rows: list[Row] = []
    for folder in args.data:
        dataset = folder.name
        images = load_dataset(folder, args.limit)
        log(f"{dataset}: {len(images)} images from {folder}")
        for scale in args.scales:
            if not args.no_bicubic:
                row = Row(dataset, "bicubic", scale)
                run_bicubic(row, images)
                rows.append(row)
                log(f"{dataset} bicubic x{scale}: {row.mean_psnr:.3f} dB")
            jobs = [(m, False) for m in args.models]
            if args.max_quality:
                jobs.append(("precise", True))
            for model, max_quality in jobs:
                if scale not in MODELS[model].scales and not args.all_scales:
                    log(f"skipping {model} x{scale}: no native x{scale} network (use --all-scales)")
                    continue
                method = f"{model} + max_quality" if max_quality else model
                row = Row(dataset, method, scale)
                log(f"{dataset} {method} x{scale} ...")
                run_model(
                    row,
                    images,
                    model=model,
                    max_quality=max_quality,
                    tiled_check=args.tiled_check,
                    check_tile=args.check_tile,
                    precision=args.precision,
                )
                rows.append(row)
                log(f"{dataset} {method} x{scale}: {row.mean_psnr:.3f} dB {row.mean_ssim:.4f} in {row.seconds:.0f} s")

    print(f"Command: `{command_line()}`\n")
    print(f"Precision: {precision_note(args.precision)}\n")
    tiled = args.tiled_check
    header = "| dataset | method | scale | dtype | PSNR (dB) | SSIM | seconds |"
    rule = "|---|---|---|---|---|---|---|"
    if tiled:
        header += f" tiled - whole, mean / worst (dB), tile {args.check_tile} | max pixel diff |"
        rule += "---|---|"
    print(header)
    print(rule)
    for row in rows:
        line = (
            f"| {row.dataset} | {row.method} | x{row.scale} | {row.dtype} | {row.mean_psnr:.2f} | {row.mean_ssim:.4f} "
            f"| {row.seconds:.1f} |"
        )
        if tiled:
            if row.tiled_delta:
                worst = max(row.tiled_delta, key=abs)
                line += f" {np.mean(row.tiled_delta):+.4f} / {worst:+.4f} ({row.tiles} tiles) | {row.tiled_maxdiff} |"
            else:
                line += " | |"
        print(line)
    if args.per_image:
        print("\nPer image PSNR (dB):\n")
        print("| dataset | method | scale | images |")
        print("|---|---|---|---|")
        for row in rows:
            pairs = ", ".join(f"{n} {p:.2f}" for n, p in zip(row.names, row.psnr, strict=True))
            print(f"| {row.dataset} | {row.method} | x{row.scale} | {pairs} |")
    print(f"\nTotal wall time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
