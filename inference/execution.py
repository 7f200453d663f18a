"""How one network runs on one device: dtype, memory layout, tile budget and batching.

The memory budget per window comes from measured activation bytes per input pixel
(:data:`_ACTIVATION_BYTES`); RRDBNets run their upsampling tail in strips
(:class:`StripedUpsampler`), which quarters their memory and so lets a CPU run
1024 x 1024 windows. On the CPU their trunk runs in OpenVINO where that is faster for the
image at hand (:mod:`inference.openvino_trunk`, :data:`CPU_ENGINE_ENV`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from inference.device import compute_dtype
from inference.loading import architecture, prefers_channels_last
from inference.openvino_trunk import OpenVinoTrunk, openvino_available
from inference.tiling import tiled_area

if TYPE_CHECKING:
    import spandrel

logger = logging.getLogger(__name__)

#: Peak activation memory of one window, in bytes per input pixel, by spandrel
#: architecture id and element size (2: bfloat16/float16, 4: float32), channels_last,
#: x4 (the x2/x3 networks need less). Measured on the CPU as the rise of the peak
#: RSS over one forward pass (window 256-448 px): Real-ESRGAN x4plus 4.0-4.4 kB in
#: bfloat16, 7.6 kB in float32; DAT-light 5.6 / 11.9 kB; animevideov3 1.1 / 1.5 kB.
_ACTIVATION_BYTES: dict[str, dict[int, int]] = {
    "ESRGAN": {2: 4600, 4: 8000},
    "DAT": {2: 6000, 4: 12500},
    "Compact": {2: 1200, 4: 1600},
}
#: The same for RRDBNet run by :class:`StripedUpsampler`: 0.9-1.5 kB in bfloat16
#: (window 384-640 px), 4.3 kB in float32 at 256 px (of which a fixed ~0.5 GB).
_STRIPED_ACTIVATION_BYTES = {2: 1200, 4: 3000}
#: The same with the trunk in OpenVINO (:class:`OpenVinoTrunk`, static window shapes):
#: 1.6 kB in bfloat16 plus a fixed ~0.2 GB (window 512-1024 px), 3.1 kB in float32 plus
#: ~0.3 GB (384-768 px). OpenVINO keeps the dense blocks' activations in its own buffers and
#: hands back float32 features, so a window holds about 60 % of PyTorch's striped one.
_OPENVINO_ACTIVATION_BYTES = {2: 2000, 4: 3600}
#: How many times faster OpenVINO runs an RRDBNet window than PyTorch, per pixel: the least
#: measured from 512 px windows up (1.30-1.47 on an AMD EPYC with AVX512-BF16 and on one
#: with AVX2 only, docs/benchmarks.md); at 256 px it is 1.07-1.24.
OPENVINO_SPEEDUP = 1.3
#: Images smaller than this (input pixels) stay with PyTorch: at 256 x 256 OpenVINO saves
#: 0.4 s of 6 s, and compiling a new window shape costs 0.6-0.8 s (a first image in a process
#: also pays for reading the IR: 1.9 s against PyTorch's 0.75 s for 64 x 64).
OPENVINO_MIN_PIXELS = 384 * 384
#: ``auto`` (default): OpenVINO for an RRDBNet pass on the CPU when it is installed and its
#: windows, smaller for the same memory, still cost less time than PyTorch's for that
#: image; ``torch`` or ``openvino`` force one (``openvino`` falls back to PyTorch where it
#: cannot run: no package, a GPU, another architecture, a network it fails to load).
CPU_ENGINE_ENV = "UPSCALER_CPU_ENGINE"
CPU_ENGINES = ("auto", "torch", "openvino")
#: Activation memory one CPU forward pass may use: Real-ESRGAN's 256 px tile with
#: 32 px of context took this much in float32 (NCHW) before. In bfloat16, channels_last
#: and with the striped upsampler the same memory holds a 1024 x 1024 window.
CPU_TILE_MEMORY = 1.3 * 2**30
#: Share of the free GPU memory one batch of windows may use.
CUDA_MEMORY_SHARE = 0.5
#: At most this many tiles per forward pass on a GPU.
CUDA_MAX_BATCH = 16


@dataclass(frozen=True)
class ExecutionPlan:
    """How to run one network on one device (see :func:`execution_plan`).

    Attributes:
        device: where the network runs.
        dtype: the compute dtype; anything but float32 runs under ``torch.autocast``.
        channels_last: feed NHWC-strided tensors (the weights are stored likewise).
        max_window: the largest tile window (core plus context, an area in input
            pixels) for :func:`inference.tiling.balanced_tile`, or None: use the
            model's fixed tile size.
        batch: tiles per forward pass (1 on the CPU).
        uniform: windows of one size, so that whole batches form (GPU).
        forward: what to call instead of the network (same input, output and
            values, less memory: :class:`StripedUpsampler`), or None.
        engine: ``"torch"``, or ``"openvino"`` when ``forward`` runs the trunk in OpenVINO.
    """

    device: torch.device
    dtype: torch.dtype
    channels_last: bool
    max_window: int | None
    batch: int
    uniform: bool
    forward: Callable[[torch.Tensor], torch.Tensor] | None = field(default=None, compare=False)
    engine: str = "torch"


class StripedUpsampler:
    """Run a spandrel RRDBNet (ESRGAN, Real-ESRGAN) with its upsampling tail in horizontal strips.

    The trunk (23 RRDB blocks at input resolution, 93% of the FLOPs) runs on the whole
    window; the tail (nearest x2, conv, nearest x2, conv, conv, conv: 64 channels at
    up to 4x the resolution, the bulk of the memory) runs on strips of about
    ``strip_pixels`` input pixels with the rows of context its convolutions need
    (:attr:`halo`, 2 for x4plus), so the output is exactly the unstriped output while
    the peak activation memory drops from about 4.4 to 1.0-1.5 kB per input pixel in
    bfloat16. That lets the CPU run 1024 x 1024 windows where 550 x 550 fit before,
    and every tile spends proportionally less on recomputed context.

    Calling it maps (N, 3, H, W) in [0, 1] to (N, 3, H*scale, W*scale) clamped to
    [0, 1] like the descriptor; any dtype/autocast the descriptor accepts.

    Args:
        descriptor: an RRDBNet descriptor (:meth:`supports`).
        strip_pixels: input pixels per strip of the tail.
        trunk: runs instead of the descriptor's trunk (its first convolution and RRDB
            blocks, ``model.model[:2]``), e.g. :class:`inference.openvino_trunk.OpenVinoTrunk`.
    """

    def __init__(
        self,
        descriptor: spandrel.ImageModelDescriptor,
        strip_pixels: int = 32768,
        trunk: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        layers = descriptor.model.model
        self.descriptor = descriptor
        self.head: Callable[[torch.Tensor], torch.Tensor] = trunk or layers[:2]
        self.tail = layers[2:]
        self.scale = descriptor.scale
        self.strip_pixels = strip_pixels
        need = 0  # rows of context, walking back from the output to the trunk's resolution
        for layer in reversed(list(self.tail)):
            if isinstance(layer, torch.nn.Conv2d):
                need += layer.kernel_size[0] // 2
            elif isinstance(layer, torch.nn.Upsample):
                need = -(-need // _factor(layer))
        self.halo = need

    @staticmethod
    def supports(network: object) -> bool:
        """Whether ``network`` is an RRDBNet descriptor of the layout this class expects."""
        model = getattr(network, "model", None)
        layers = getattr(model, "model", None)
        shuffle_factor = getattr(model, "shuffle_factor", 1)
        if architecture(network) != "ESRGAN" or shuffle_factor or layers is None:
            return False
        if not isinstance(layers, torch.nn.Sequential) or len(layers) < 3:
            return False
        upscale = 1
        for layer in list(layers)[2:]:
            if isinstance(layer, torch.nn.Upsample):
                if layer.mode != "nearest" or not isinstance(layer.scale_factor, int | float):
                    return False
                if not float(layer.scale_factor).is_integer():
                    return False
                upscale *= _factor(layer)
            elif isinstance(layer, torch.nn.Conv2d):
                k = layer.kernel_size
                if k[0] != k[1] or k[0] % 2 == 0 or layer.stride != (1, 1) or layer.dilation != (1, 1):
                    return False
                if layer.padding != (k[0] // 2, k[0] // 2) or layer.padding_mode != "zeros":
                    return False
            elif not isinstance(layer, torch.nn.LeakyReLU | torch.nn.ReLU):
                return False
        return upscale == getattr(network, "scale", None)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n, _, height, width = x.shape
        minimum = self.descriptor.size_requirements.minimum
        if height < minimum or width < minimum:
            padded: torch.Tensor = self.descriptor(x)  # it pads
            return padded
        features = self.head(x)
        rows = max(1, -(-self.strip_pixels // width))
        if rows >= height:
            whole: torch.Tensor = self.tail(features).clamp_(0, 1)
            return whole
        s, out = self.scale, None
        for r0 in range(0, height, rows):
            r1 = min(r0 + rows, height)
            lo, hi = max(r0 - self.halo, 0), min(r1 + self.halo, height)
            y = self.tail(features[:, :, lo:hi])
            if out is None:
                shape = (n, y.shape[1], height * s, width * s)
                out = torch.empty(shape, dtype=y.dtype, device=y.device, memory_format=torch.channels_last)
            out[:, :, r0 * s : r1 * s] = y[:, :, (r0 - lo) * s : (r1 - lo) * s]
        assert out is not None
        return out.clamp_(0, 1)


def _factor(layer: torch.nn.Upsample) -> int:
    """The integer scale factor of an upsampling layer (:meth:`StripedUpsampler.supports` checked it is one)."""
    assert isinstance(layer.scale_factor, int | float)
    return int(layer.scale_factor)


def _element_size(dtype: torch.dtype) -> int:
    """The key of the activation tables for ``dtype``: its element size, 2 or 4 bytes."""
    return 2 if dtype in (torch.float16, torch.bfloat16) else 4


def _activation_bytes(network: object, dtype: torch.dtype, striped: bool = False) -> int | None:
    """Bytes of activations per input pixel of a window (:data:`_ACTIVATION_BYTES`), None if unknown."""
    table = _STRIPED_ACTIVATION_BYTES if striped else _ACTIVATION_BYTES.get(architecture(network))
    if table is None:
        return None
    return table[_element_size(dtype)]


def cpu_engine_setting() -> str:
    """``$UPSCALER_CPU_ENGINE`` (one of :data:`CPU_ENGINES`), ``"auto"`` when unset.

    Raises:
        ValueError: any other value.
    """
    value = (os.environ.get(CPU_ENGINE_ENV) or "auto").strip().lower()
    if value not in CPU_ENGINES:
        raise ValueError(f"{CPU_ENGINE_ENV} must be one of {', '.join(CPU_ENGINES)}, got {value!r}")
    return value


@functools.lru_cache(maxsize=8)
def _openvino_trunk(network: spandrel.ImageModelDescriptor, dtype: torch.dtype) -> OpenVinoTrunk | None:
    """One OpenVINO trunk per loaded network and dtype per process, or None if OpenVINO cannot load it
    here (logged once; the network then runs in PyTorch rather than fail every job)."""
    try:
        return OpenVinoTrunk(network.model.model[:2], dtype, threads=torch.get_num_threads())
    except Exception:
        logger.warning("openvino_unavailable", exc_info=True)
        return None


def _openvino_pays(size: tuple[int, int] | None, overlap: int, torch_window: int, openvino_window: int) -> bool:
    """Whether OpenVINO's windows, smaller for the same memory, cost less time than PyTorch's for this image.

    Not for images under :data:`OPENVINO_MIN_PIXELS`, nor when the size is not known.
    """
    if size is None or size[0] * size[1] < OPENVINO_MIN_PIXELS:
        return False
    height, width = size
    torch_cost = tiled_area(height, width, overlap, torch_window)
    return tiled_area(height, width, overlap, openvino_window) < OPENVINO_SPEEDUP * torch_cost


def _with_openvino_trunk(
    plan: ExecutionPlan, network: spandrel.ImageModelDescriptor, size: tuple[int, int] | None, overlap: int
) -> ExecutionPlan:
    """``plan`` (PyTorch's, for an RRDBNet on the CPU) with the trunk in OpenVINO where
    :data:`CPU_ENGINE_ENV` allows, OpenVINO loads it and it pays for ``size``; else ``plan``."""
    engine = cpu_engine_setting()
    if engine == "torch" or not openvino_available():
        return plan
    assert plan.max_window is not None  # an RRDBNet's activation bytes are known
    window = int(CPU_TILE_MEMORY // _OPENVINO_ACTIVATION_BYTES[_element_size(plan.dtype)])
    if engine != "openvino" and not _openvino_pays(size, overlap, plan.max_window, window):
        return plan
    trunk = _openvino_trunk(network, plan.dtype)
    if trunk is None:
        return plan
    return dataclasses.replace(
        plan, max_window=window, forward=StripedUpsampler(network, trunk=trunk), engine="openvino"
    )


def execution_plan(
    network: object,
    device: torch.device,
    precision: str | None = None,
    *,
    tile: int = 256,
    overlap: int = 32,
    size: tuple[int, int] | None = None,
) -> ExecutionPlan:
    """Pick the dtype, memory layout, tile budget, batching and engine for ``network`` on ``device``.

    Args:
        network: a :func:`load_network` descriptor; anything else (a stand-in
            function) gets no channels_last and fixed tiles, and its
            ``supports_half``/``supports_bfloat16`` are read if present.
        device: where it runs.
        precision: see :func:`compute_dtype`.
        tile: the tile size (input pixels) on a GPU, and the fallback on the CPU.
        overlap: context (input pixels) on each side of a tile.
        size: (height, width) of the image this pass runs on, in pixels, when known:
            the CPU engine is chosen for it.

    CPU: one tile per forward pass, windows as large as :data:`CPU_TILE_MEMORY`
    allows (the context around each tile is recomputed work, so fewer, larger tiles
    are faster). An RRDBNet's trunk runs in OpenVINO (:data:`CPU_ENGINE_ENV`) when
    that is installed and, at its smaller windows, costs less time for ``size`` than
    PyTorch at its own (:data:`OPENVINO_SPEEDUP`). CUDA: float16, uniform
    ``tile + 2 * overlap`` windows, as many per pass as :data:`CUDA_MEMORY_SHARE` of
    the free GPU memory holds (at most :data:`CUDA_MAX_BATCH`). CUDA is queried only
    when ``device`` is a CUDA device. RRDBNets run through :class:`StripedUpsampler`
    (``forward``) on every device.

    Raises:
        ValueError: unknown precision or :data:`CPU_ENGINE_ENV`.
    """
    dtype = compute_dtype(
        device,
        precision,
        supports_half=bool(getattr(network, "supports_half", True)),
        supports_bfloat16=bool(getattr(network, "supports_bfloat16", True)),
    )
    channels_last = prefers_channels_last(network)
    striped = StripedUpsampler.supports(network)
    forward = StripedUpsampler(network) if striped else None
    per_pixel = _activation_bytes(network, dtype, striped)
    if device.type != "cuda":
        max_window = int(CPU_TILE_MEMORY // per_pixel) if per_pixel else None
        plan = ExecutionPlan(device, dtype, channels_last, max_window, batch=1, uniform=False, forward=forward)
        return _with_openvino_trunk(plan, network, size, overlap) if striped else plan
    window = (tile + 2 * overlap) ** 2
    free, _total = torch.cuda.mem_get_info(device)
    per_item = window * (per_pixel or max(_ACTIVATION_BYTES["DAT"].values()))
    batch = int(min(CUDA_MAX_BATCH, max(1, CUDA_MEMORY_SHARE * free // per_item)))
    return ExecutionPlan(device, dtype, channels_last, window, batch=batch, uniform=True, forward=forward)
