"""Tiled super-resolution inference in bounded memory.

The input is cut into tiles of ``tile`` x ``tile`` pixels. Each tile is run through
the network together with ``overlap`` pixels of surrounding context on every side
(clamped at the image border), and only the upscaled core of the tile is written
to the output. Because every output pixel is produced with context on all sides,
the result matches whole-image inference to within a small fraction of a dB and
no seams appear, while the working memory is that of one tile, not the image.
This is the scheme of Real-ESRGAN's ``tile``/``tile_pad`` (Wang et al., 2021).

Speed (measured in ``bench/speed.py``):

* The context is paid for in compute: a 256 px tile with 32 px of context on each
  side costs (320/256)^2 = 1.56x its own pixels. :func:`balanced_tile` picks, per
  image, the fewest and largest tiles whose window stays within a pixel budget (the
  memory limit), of balanced size, so that no thin remainder tile pays full context.
* Windows are handed to the network in NHWC order (``channels_last=True``), which is
  how the image is stored anyway and what oneDNN and cuDNN convolutions run fastest
  on; the forward pass can run under ``torch.autocast`` (``compute_dtype``: bfloat16
  on CPUs with AVX512-BF16/AMX, float16 on CUDA).
* With ``batch > 1`` (meant for GPUs) tiles whose windows have the same size go
  through the network together. ``uniform=True`` gives every window the same size:
  a window that would stick out of the image is shifted back inside it (more context
  on the inner side, never invented pixels), so the whole grid batches without
  padding and a batched run computes exactly what a one-tile-at-a-time run over the
  same grid computes.
"""

from __future__ import annotations

import contextlib
import math
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

Forward = Callable[[torch.Tensor], torch.Tensor]
FLOAT32 = np.dtype(np.float32)
TileSize = int | tuple[int, int]


class InferenceError(RuntimeError):
    """The network produced unusable output (NaN/inf, wrong shape); the message is for the user."""


@dataclass(frozen=True)
class Tile:
    """One tile: its core ``[y0:y1, x0:x1]`` and its padded input window ``[py0:py1, px0:px1]`` (input pixels)."""

    y0: int
    y1: int
    x0: int
    x1: int
    py0: int
    py1: int
    px0: int
    px1: int

    @property
    def window(self) -> tuple[int, int]:
        """(height, width) of the input window in pixels."""
        return self.py1 - self.py0, self.px1 - self.px0


def _sides(tile: TileSize) -> tuple[int, int]:
    return (tile, tile) if isinstance(tile, int) else (int(tile[0]), int(tile[1]))


def _axis_windows(size: int, tile: int, overlap: int, uniform: bool) -> list[tuple[int, int, int, int]]:
    """(core start, core stop, window start, window stop) along one axis of ``size`` pixels."""
    length = min(tile + 2 * overlap, size)
    spans = []
    for start in range(0, size, tile):
        stop = min(start + tile, size)
        if uniform:
            lo = min(max(start - overlap, 0), size - length)
            spans.append((start, stop, lo, lo + length))
        else:
            spans.append((start, stop, max(start - overlap, 0), min(stop + overlap, size)))
    return spans


def tile_grid(height: int, width: int, tile: TileSize, overlap: int, *, uniform: bool = False) -> Iterator[Tile]:
    """Cover a (height, width) image with tiles of at most ``tile`` pixels plus ``overlap`` context.

    Args:
        height, width: the image size in pixels.
        tile: core tile side in pixels, or (tile height, tile width).
        overlap: context in pixels added on each side of a core, clamped at the border.
        uniform: give every window the same size, ``min(tile + 2 * overlap, side)`` per
            axis, by shifting windows at the border inwards instead of clamping them
            (they get more context on the inner side). Lets tiles batch without padding.

    Yields:
        Tiles in row-major order; their cores partition the image.

    Raises:
        ValueError: a tile side < 1 or ``overlap`` < 0.
    """
    tile_h, tile_w = _sides(tile)
    if tile_h < 1 or tile_w < 1 or overlap < 0:
        raise ValueError(f"tile must be >= 1 and overlap >= 0, got tile={tile}, overlap={overlap}")
    columns = _axis_windows(width, tile_w, overlap, uniform)
    for y0, y1, py0, py1 in _axis_windows(height, tile_h, overlap, uniform):
        for x0, x1, px0, px1 in columns:
            yield Tile(y0, y1, x0, x1, py0, py1, px0, px1)


def _axis_plan(size: int, count: int, overlap: int, uniform: bool) -> tuple[int, int, int]:
    """(tile, largest window, sum of windows) along an axis of ``size`` pixels cut into ``count`` balanced tiles."""
    tile = -(-size // count)
    windows = [hi - lo for _, _, lo, hi in _axis_windows(size, tile, overlap, uniform)]
    return tile, max(windows), sum(windows)


def _columns_within(size: int, widest: int, overlap: int, uniform: bool) -> int | None:
    """The fewest balanced tiles along an axis whose windows are at most ``widest`` pixels, or None."""
    if widest >= size:
        return 1
    # Two tiles: one-sided context (clamped grid), else context on both sides.
    for count, context in ((2, overlap if not uniform else 2 * overlap), (3, 2 * overlap)):
        if count <= size and -(-size // count) + context <= widest:
            return count
    if widest - 2 * overlap < 1:
        return None
    count = -(-size // (widest - 2 * overlap))
    while count <= size and _axis_plan(size, count, overlap, uniform)[1] > widest:
        count += 1
    return count if count <= size else None


def balanced_tile(height: int, width: int, overlap: int, max_window: int, *, uniform: bool = False) -> tuple[int, int]:
    """The (tile height, tile width) that runs the fewest input pixels through the network.

    Every window (core plus context) must hold at most ``max_window`` input pixels
    (its area: that is what bounds the memory). Among the tile counts per axis that
    respect it, the one with the least total window area wins (context is paid for in
    compute), and tiles are balanced: 1000 px in tiles of at most 400 become
    334 + 334 + 332, not 400 + 400 + 200.

    Args:
        height, width: image size in pixels.
        overlap: context in pixels on each side of a tile.
        max_window: the largest window area in pixels, e.g. ``448 * 448``.
        uniform: plan for :func:`tile_grid` with ``uniform=True``.

    Returns:
        (tile height, tile width) in pixels, to pass to :func:`tile_grid` as ``tile``.
        If even 1-pixel tiles exceed ``max_window`` (tiny budget, large overlap), the
        smallest windows there are.
    """
    max_window = max(int(max_window), 1)
    if min(height, 1 + 2 * overlap) * min(width, 1 + 2 * overlap) > max_window:
        return 1, 1  # not even 1-pixel tiles fit: the smallest windows there are
    # (total window area, number of tiles, tile_h, tile_w) of the best plan that fits
    best: tuple[int, int, int, int] | None = None
    previous = 0
    for rows in range(1, height + 1):
        tile_h, win_h, sum_h = _axis_plan(height, rows, overlap, uniform)
        if tile_h == previous:
            continue  # same tiles as with fewer rows
        previous = tile_h
        if best is not None and sum_h * width >= best[0]:
            break  # more rows cannot beat a plan that fits: the context only grows
        widest = max_window // win_h  # the widest window that fits next to this height
        columns = _columns_within(width, widest, overlap, uniform)
        if columns is None:
            continue
        tile_w, _, sum_w = _axis_plan(width, columns, overlap, uniform)
        candidate = (sum_h * sum_w, rows * -(-width // tile_w), tile_h, tile_w)
        if best is None or candidate < best:
            best = candidate
    assert best is not None  # 1-pixel tiles fit
    return best[2], best[3]


def tiled_area(height: int, width: int, overlap: int, max_window: int, *, uniform: bool = False) -> int:
    """Input pixels the network runs on (context included) for an image tiled by :func:`balanced_tile`.

    The compute a tiling costs: equal to ``height * width`` when the image fits one window.
    """
    tile = balanced_tile(height, width, overlap, max_window, uniform=uniform)
    return sum(math.prod(t.window) for t in tile_grid(height, width, tile, overlap, uniform=uniform))


def to_output_dtype(tile: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float [0, 1] samples to ``dtype``: float32 unchanged, uint8/uint16 rounded and clipped."""
    if dtype == np.float32:
        return tile
    top = float(np.iinfo(dtype).max)
    out: np.ndarray = np.rint(np.clip(tile, 0.0, 1.0) * top).astype(dtype)
    return out


def _to_output(core: torch.Tensor, dtype: np.dtype) -> np.ndarray:
    """(h, w, C) tensor in [0, 1] (any float dtype, any device) to a numpy array of ``dtype``.

    Same arithmetic as :func:`to_output_dtype` (clip, scale, round half to even, all
    in float32), done by torch on the tensor's device: multithreaded on the CPU, and on
    a GPU only the integer result crosses the bus.
    """
    core = core.float()
    if dtype == np.float32:
        return core.cpu().numpy()
    top = float(np.iinfo(dtype).max)
    rounded = core.clamp(0.0, 1.0).mul_(top).round_()
    return rounded.to(torch.uint8 if dtype == np.uint8 else torch.int32).cpu().numpy().astype(dtype, copy=False)


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError)


def upscale_tiled(
    forward: Forward,
    image: np.ndarray,
    scale: int,
    *,
    tile: TileSize,
    overlap: int,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    out_dtype: np.dtype = FLOAT32,
    progress: Callable[[int, int], None] | None = None,
    compute_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    batch: int = 1,
    uniform: bool = False,
) -> np.ndarray:
    """Upscale an image tile by tile.

    Args:
        forward: the network, mapping (N, 3, h, w) to (N, 3, h*scale, w*scale),
            values in [0, 1], on ``device``; N is 1 unless ``batch`` > 1.
        image: (H, W, 3) float32 RGB in [0, 1].
        scale: the network's scale factor.
        tile: core tile size in input pixels, or (height, width); larger is faster
            (less context to recompute) but needs more memory.
        overlap: context in input pixels added on each side of a tile.
        device: where the network runs.
        dtype: the dtype of the tensors handed to ``forward`` (float32, float16 or
            bfloat16): the weights' dtype when the network runs without autocast.
        out_dtype: float32, uint8 or uint16 for the returned array.
        progress: called with (tiles done, tiles total) after each forward pass.
        compute_dtype: run ``forward`` under ``torch.autocast(device.type, compute_dtype)``
            (bfloat16 or float16); None or float32: no autocast.
        channels_last: hand ``forward`` NHWC-strided tensors (``torch.channels_last``),
            else contiguous NCHW ones. Same values either way.
        batch: at most this many tiles per forward pass; only tiles with the same
            window size are batched (all of them with ``uniform``). On CUDA, when a
            batch runs out of memory, the batch size is halved and the tiles retried.
        uniform: windows of one size (see :func:`tile_grid`).

    Returns:
        (H*scale, W*scale, 3) array of ``out_dtype`` (float32 in [0, 1], or the full
        integer range).

    Raises:
        InferenceError: the network returned non-finite values or the wrong size.
    """
    height, width, channels = image.shape
    out = np.empty((height * scale, width * scale, channels), dtype=out_dtype)
    tiles = list(tile_grid(height, width, tile, overlap, uniform=uniform))
    batch = max(1, int(batch))
    # Windows of one shape in a row, even one at a time: batches form only from one shape, and
    # OpenVINO compiles per shape and keeps one at a time.
    groups: dict[tuple[int, int], list[Tile]] = {}
    for t in tiles:
        groups.setdefault(t.window, []).append(t)
    pending = deque(g[i : i + batch] for g in groups.values() for i in range(0, len(g), batch))

    autocast: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if compute_dtype is not None and compute_dtype != torch.float32:
        autocast = torch.autocast(device.type, dtype=compute_dtype)
    done = 0
    with autocast:
        while pending:
            group = pending.popleft()
            windows = [image[t.py0 : t.py1, t.px0 : t.px1] for t in group]
            stacked = np.stack(windows) if len(windows) > 1 else np.ascontiguousarray(windows[0])[None]
            x = torch.from_numpy(stacked).permute(0, 3, 1, 2)  # (N, C, h, w), NHWC in memory
            if not channels_last:
                x = x.contiguous()
            x = x.to(device=device, dtype=dtype)
            try:
                y = forward(x)
            except Exception as exc:
                if len(group) == 1 or device.type != "cuda" or not _is_oom(exc):
                    raise
                del x
                torch.cuda.empty_cache()
                # Halve the batch for this group and every one after it.
                batch = max(1, len(group) // 2)
                rest = [group, *pending]
                pending = deque(g[i : i + batch] for g in rest for i in range(0, len(g), batch))
                continue
            win_h, win_w = group[0].window
            expected = (len(group), channels, win_h * scale, win_w * scale)
            if tuple(y.shape) != expected:
                raise InferenceError(f"The model returned a tile of shape {tuple(y.shape)}, expected {expected}.")
            for index, t in enumerate(group):
                core = y[
                    index,
                    :,
                    (t.y0 - t.py0) * scale : (t.y1 - t.py0) * scale,
                    (t.x0 - t.px0) * scale : (t.x1 - t.px0) * scale,
                ].permute(1, 2, 0)
                if not bool(torch.isfinite(core).all()):
                    raise InferenceError("The model produced invalid values (NaN or infinity).")
                out[t.y0 * scale : t.y1 * scale, t.x0 * scale : t.x1 * scale] = _to_output(core, out_dtype)
            del x, y
            done += len(group)
            if progress is not None:
                progress(done, len(tiles))
    return out
