"""From a decoded image to its upscaled image: the model passes in tiles, then resampling to the exact size.

``portrait`` runs two models and blends them (:func:`_upscale_portrait`, geometry in :mod:`inference.portrait`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image

from inference.catalog import get_spec
from inference.color import match_colors
from inference.device import default_device, resolve_precision
from inference.ensemble import self_ensemble
from inference.execution import execution_plan
from inference.faces import Face, detect_faces
from inference.imageio import Planes, SourceImage, encode, merge_planes, resize_plane, resize_samples16, split_planes
from inference.loading import load_network
from inference.portrait import blend, blend_weights, plan_regions
from inference.sizing import plan_passes, scale_of
from inference.tiling import balanced_tile, upscale_tiled


@dataclass
class UpscaleResult:
    """An upscaled image and how it was made.

    ``image``: Pillow image at the requested size in the output mode, or for 16-bit
    RGB(A) input an (H, W, 3|4) uint16 array.
    ``model``: the model name. ``scale_chain``: native network scales applied in
    order, e.g. ``[4]``. ``seconds``: wall time of the inference. ``engines``: what ran
    each pass of ``scale_chain`` (``"torch"``, or ``"openvino"`` for an RRDBNet's trunk; see
    :func:`inference.execution.execution_plan`); for ``portrait``, its ``standard`` pass.
    """

    image: Image.Image | np.ndarray
    model: str
    scale_chain: list[int]
    device: str
    seconds: float
    engines: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the output in pixels."""
        if isinstance(self.image, np.ndarray):
            return self.image.shape[1], self.image.shape[0]
        return self.image.size


def _tile_size(model_tile: int, device: torch.device) -> int:
    """The fixed tile size (input pixels): ``$UPSCALER_TILE``, else the model's, 3x on CUDA.

    Used as is when ``$UPSCALER_TILE`` is set and for networks whose memory use is
    not known (:func:`inference.execution.execution_plan` gives no ``max_window``);
    otherwise it sizes the GPU windows, and CPU tiles come from the memory budget.
    """
    override = _tile_override()
    if override:
        return override
    # A GPU has the memory for much larger tiles, which amortise the context.
    return model_tile * 3 if device.type == "cuda" else model_tile


def _tile_override() -> int | None:
    override = os.environ.get("UPSCALER_TILE")
    return int(override) if override else None


def upscale_image(
    image: Image.Image | np.ndarray,
    size: tuple[int, int],
    *,
    model: str = "standard",
    device: torch.device | None = None,
    tile: int | None = None,
    overlap: int | None = None,
    max_quality: bool = False,
    progress: Callable[[float], None] | None = None,
    precision: str | None = None,
    tune_colors: bool = False,
    faces: Callable[[], Sequence[Face]] | None = None,
) -> UpscaleResult:
    """Upscale a Pillow image to exactly ``size`` = (width, height) with a super-resolution model.

    The colour is run through the model's native networks (chained when the factor
    exceeds one pass) in tiles, then resampled with Lanczos to the exact size. An
    alpha channel is upscaled separately with Lanczos and kept. Grayscale input gives
    grayscale output; 16-bit grayscale stays 16-bit.

    Args:
        image: any mode :func:`inference.imageio.split_planes` accepts, orientation applied,
            or (H, W, 3|4) uint16 RGB(A) samples (``SourceImage.pixels``).
        size: output (width, height) in pixels, larger than the input.
        model: a name in :data:`inference.catalog.MODELS`.
        device: defaults to :func:`inference.device.default_device`.
        tile: tile size in input pixels. By default the CPU uses, per image, the
            fewest and largest balanced tiles whose windows fit the model's memory
            budget (:func:`inference.tiling.balanced_tile`); a GPU uses 3x the model's
            tile in batches; ``$UPSCALER_TILE`` fixes it.
        overlap: context in input pixels around each tile; defaults to the model's.
        max_quality: average the network over the 8 flips and rotations
            (:func:`inference.ensemble.self_ensemble`): 8x the compute, higher PSNR.
        progress: called with the fraction done in [0, 1].
        precision: ``"auto"`` (default, or ``$UPSCALER_PRECISION``), ``"fp32"``,
            ``"bf16"`` or ``"fp16"``: the compute dtype
            (:func:`inference.device.compute_dtype`); auto is bfloat16 on CPUs with
            AVX512-BF16/AMX, float16 on CUDA, else float32.
        tune_colors: give the result the input's low-frequency colour
            (:func:`inference.color.match_colors`), undoing the slight colour shifts
            of GAN models.
        faces: for ``portrait``, returns the faces in ``image`` where they were already
            looked for (``SourceImage.faces``); else :func:`inference.faces.detect_faces` runs.

    Raises:
        UnknownModel: unknown model name.
        ValueError: unknown precision.
        InferenceError: the network produced invalid output.
    """
    spec = get_spec(model)
    if spec.combines:
        return _upscale_portrait(
            image, size, model=model, device=device, tile=tile, overlap=overlap, max_quality=max_quality,
            progress=progress, precision=precision, tune_colors=tune_colors, faces=faces,
        )  # fmt: skip
    overlap = spec.overlap if overlap is None else overlap
    device = device or default_device()
    precision = resolve_precision(precision)
    fixed_tile = tile or _tile_override()
    started = time.perf_counter()

    planes: Planes = split_planes(image)
    in_size = (image.shape[1], image.shape[0]) if isinstance(image, np.ndarray) else image.size
    chain = plan_passes(spec.scales, scale_of(in_size, size))

    color = planes.color
    out_dtype = np.dtype(np.uint16 if planes.bits == 16 else np.uint8)
    engines: list[str] = []
    with torch.inference_mode():
        for index, scale in enumerate(chain):
            network = load_network(model, scale, str(device))
            height, width = color.shape[:2]
            plan = execution_plan(
                network, device, precision, tile=_tile_size(spec.tile, device), overlap=overlap, size=(height, width)
            )
            engines.append(plan.engine)
            if fixed_tile:
                pass_tile: int | tuple[int, int] = fixed_tile
            elif plan.max_window:
                pass_tile = balanced_tile(height, width, overlap, plan.max_window, uniform=plan.uniform)
            else:
                pass_tile = _tile_size(spec.tile, device)
            if plan.forward is not None:  # same output, less memory (larger tiles)
                network = plan.forward
            if max_quality:
                network = self_ensemble(network)
            last = index == len(chain) - 1

            def report(done: int, total: int, index: int = index) -> None:
                if progress is not None:
                    progress((index + done / total) / len(chain))

            color = upscale_tiled(
                network,
                color,
                scale,
                tile=pass_tile,
                overlap=overlap,
                device=device,
                out_dtype=out_dtype if last else np.dtype(np.float32),
                progress=report,
                compute_dtype=plan.dtype,
                channels_last=plan.channels_last,
                batch=plan.batch,
                uniform=plan.uniform,
            )

    if tune_colors:
        peak = 65535.0 if planes.bits == 16 else 255.0
        tuned = match_colors(color, planes.color * peak, peak=peak)
        color = np.rint(tuned).astype(out_dtype)
        del tuned

    if planes.mode in ("RGB;16", "RGBA;16"):
        samples = resize_samples16(color, size)
        del color
        if planes.alpha is not None:
            alpha16 = np.rint(planes.alpha * 65535.0).astype(np.uint16)[:, :, None]
            samples = np.concatenate([samples, resize_samples16(alpha16, size)], axis=2)
        return UpscaleResult(samples, model, chain, str(device), time.perf_counter() - started, engines)
    if planes.bits == 16:
        gray = color.mean(axis=2, dtype=np.float32)
        color_img = Image.fromarray(np.rint(gray).astype(np.uint16))
    else:
        color_img = Image.fromarray(color, "RGB")
    del color
    color_img = resize_plane(color_img, size)
    alpha_img = None
    if planes.alpha is not None:
        alpha_u8 = np.rint(planes.alpha * 255.0).astype(np.uint8)
        alpha_img = resize_plane(Image.fromarray(alpha_u8, "L"), size)
    out = merge_planes(color_img, alpha_img, planes.mode)
    return UpscaleResult(
        image=out,
        model=model,
        scale_chain=chain,
        device=str(device),
        seconds=time.perf_counter() - started,
        engines=engines,
    )


def _upscale_portrait(
    image: Image.Image | np.ndarray,
    size: tuple[int, int],
    *,
    model: str,
    device: torch.device | None,
    tile: int | None,
    overlap: int | None,
    max_quality: bool,
    progress: Callable[[float], None] | None,
    precision: str | None,
    tune_colors: bool,
    faces: Callable[[], Sequence[Face]] | None,
) -> UpscaleResult:
    """``portrait``: ``standard`` on the whole image, ``precise`` on each face's region, feathered in.

    The regions and masks are :mod:`inference.portrait`'s. Each region's crop is upscaled
    to exactly its rectangle of the output, so its pixels land where the whole image's
    do. Both passes return the same mode (RGB, RGBA, L, LA, I;16 or 16-bit samples), so
    the blend works on their samples, alpha included. Without faces the result is
    ``standard``'s, pixel for pixel. The faces are ``faces()``, else :func:`inference.faces.detect_faces`'.
    The other arguments are :func:`upscale_image`'s; ``progress`` goes from 0 to 1 over
    both passes, weighted by their input pixels and the models' costs.
    """
    base_model, face_model = get_spec(model).combines
    started = time.perf_counter()
    in_size = (image.shape[1], image.shape[0]) if isinstance(image, np.ndarray) else image.size
    regions = plan_regions(faces() if faces is not None else detect_faces(image), in_size, size)
    costs = [in_size[0] * in_size[1] * get_spec(base_model).cpu_seconds_per_megapixel]
    costs += [r.size[0] * r.size[1] * get_spec(face_model).cpu_seconds_per_megapixel for r in regions]
    bounds = [sum(costs[:index]) / sum(costs) for index in range(len(costs) + 1)]

    def run(pixels: Image.Image | np.ndarray, out_size: tuple[int, int], name: str, index: int) -> UpscaleResult:
        begin, end = bounds[index], bounds[index + 1]

        def report(fraction: float) -> None:
            if progress is not None:
                progress(begin + fraction * (end - begin))

        return upscale_image(
            pixels, out_size, model=name, device=device, tile=tile, overlap=overlap, max_quality=max_quality,
            progress=report, precision=precision, tune_colors=tune_colors,
        )  # fmt: skip

    result = run(image, size, base_model, 0)
    out = result.image
    for index, region in enumerate(regions, start=1):
        left, top, right, bottom = region.box
        crop = image[top:bottom, left:right] if isinstance(image, np.ndarray) else image.crop(region.box)
        face = np.asarray(run(crop, region.out_size, face_model, index).image)
        weights = blend_weights(region, in_size, size)
        ox0, oy0, ox1, oy1 = region.out_box
        if isinstance(out, np.ndarray):
            out[oy0:oy1, ox0:ox1] = blend(out[oy0:oy1, ox0:ox1], face, weights)
        else:
            out.paste(Image.fromarray(blend(np.asarray(out.crop(region.out_box)), face, weights)), (ox0, oy0))
    elapsed = time.perf_counter() - started
    return UpscaleResult(out, model, result.scale_chain, result.device, elapsed, result.engines)


def upscale_source(
    source: SourceImage,
    size: tuple[int, int],
    out: BinaryIO,
    *,
    model: str,
    max_quality: bool = False,
    progress: Callable[[float], None] | None = None,
    device: torch.device | None = None,
    tile: int | None = None,
    fmt: str | None = None,
    quality: int | None = None,
    keep_metadata: bool = False,
    tune_colors: bool = False,
) -> tuple[UpscaleResult, str]:
    """Upscale a decoded file to ``size`` = (width, height) and write the result to ``out``: the worker's job
    and the ``upscale`` command's.

    The result keeps the source's format, or is written in ``fmt`` at ``quality``; it
    keeps 16 bits where the format can, the ICC profile, and the technical EXIF or, with
    ``keep_metadata``, all of it (:func:`inference.imageio.encode`). A ``size`` equal to
    the source's runs no network: the image is only written again (``scale_chain`` is
    empty). The other arguments are :func:`upscale_image`'s.

    Returns:
        (the result, the format written, e.g. ``"PNG"``).

    Raises:
        See :func:`upscale_image` and :func:`inference.imageio.encode`; ``OSError`` from writing ``out``.
    """
    if size == source.size:
        started = time.perf_counter()
        result = UpscaleResult(source.pixels, model, [], "none", 0.0)
        written = encode(source.pixels, source, out, fmt, quality=quality, keep_metadata=keep_metadata)
        result.seconds = time.perf_counter() - started
        return result, written
    result = upscale_image(
        source.pixels, size, model=model, device=device, tile=tile, max_quality=max_quality, progress=progress,
        tune_colors=tune_colors, faces=lambda: source.faces,
    )  # fmt: skip
    return result, encode(result.image, source, out, fmt, quality=quality, keep_metadata=keep_metadata)
