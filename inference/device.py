"""Where and in which precision the networks run: the device, the compute dtype, CPU threads.

Chosen per machine at run time (the CPUs this runs on change: AVX512-BF16 or AMX-BF16
make bfloat16 about twice as fast as float32, without them it is slower), overridable
with ``UPSCALER_DEVICE`` and ``UPSCALER_PRECISION``.
"""

from __future__ import annotations

import functools
import os

import torch

from inference.gpus import claim_gpu


def default_device() -> torch.device:
    """CUDA when a GPU is usable, else the CPU; ``UPSCALER_DEVICE`` (``cpu``, ``cuda``, ``cuda:1``) overrides.

    With several GPUs and no index chosen, each worker process on the host takes its own
    (:func:`inference.gpus.claim_gpu`): a host runs one worker per GPU.
    """
    forced = (os.environ.get("UPSCALER_DEVICE") or "").strip().lower()
    if forced not in ("", "cuda"):
        return torch.device(forced)
    if not torch.cuda.is_available():
        return torch.device(forced or "cpu")
    count = torch.cuda.device_count()
    return torch.device("cuda", claim_gpu(count)) if count > 1 else torch.device("cuda")


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
    if not torch.backends.mkldnn.is_available():  # type: ignore[no-untyped-call]
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
