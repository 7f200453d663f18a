"""GPUs on a worker host, without PyTorch: how many worker processes a host runs, and which GPU each takes.

A worker host runs one worker process per GPU (one in all on a CPU host: a single process
already uses every core through PyTorch's thread pool). Counting the GPUs must not load
PyTorch or initialise CUDA, because the settings do it in every process (the web tier
included) and Django-Q2 forks its workers afterwards: CUDA does not survive a fork.

Each worker process then takes a GPU no other worker on the host holds (:func:`claim_gpu`),
with a lock that the kernel drops when the process dies, so a worker Django-Q2 starts in
place of a dead or recycled one takes the freed GPU.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Mapping
from typing import IO

_PROC_GPUS = "/proc/driver/nvidia/gpus"
_claimed: tuple[int, IO[str]] | None = None


def visible_gpus(environ: Mapping[str, str] | None = None) -> int:
    """NVIDIA GPUs this process may use: those ``CUDA_VISIBLE_DEVICES`` lists when it is set (up to the
    first hidden one, ``-1``, as CUDA reads it), else those the driver lists; 0 without a driver."""
    environ = os.environ if environ is None else environ
    listed = environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        count = 0
        for device in listed.split(","):
            if not device.strip() or device.strip().startswith("-"):
                break
            count += 1
        return count
    try:
        return len(os.listdir(_PROC_GPUS))
    except OSError:
        return 0


def worker_processes(environ: Mapping[str, str] | None = None) -> int:
    """The default number of worker processes of a host: one per visible GPU, or 1 where the worker runs on
    the CPU (no GPU, or ``UPSCALER_DEVICE=cpu``) or on one chosen GPU (``UPSCALER_DEVICE=cuda:1``)."""
    environ = os.environ if environ is None else environ
    device = environ.get("UPSCALER_DEVICE", "").strip().lower()
    if device not in ("", "cuda"):
        return 1
    return max(1, visible_gpus(environ))


def claim_gpu(count: int, lock_dir: str | None = None) -> int:
    """The index, in ``range(count)``, of a GPU that no other process on this host has claimed.

    The claim is an exclusive ``flock`` on ``upscaler-gpu-<uid>-<index>.lock`` in ``lock_dir``
    (default: the temp dir), held until this process exits; later calls return the same index.
    With every GPU taken (more workers than GPUs), processes share them by pid.

    Raises:
        ValueError: ``count`` is below 1.
    """
    global _claimed
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if _claimed is not None and _claimed[0] < count:
        return _claimed[0]
    directory = lock_dir or tempfile.gettempdir()
    first = os.getpid() % count
    for offset in range(count):
        index = (first + offset) % count
        lock = open(os.path.join(directory, f"upscaler-gpu-{os.getuid()}-{index}.lock"), "a")  # noqa: SIM115
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        _claimed = (index, lock)  # kept open: closing it would drop the lock
        return index
    return first
