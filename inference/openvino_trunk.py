"""OpenVINO runs the RRDB trunk of Real-ESRGAN on the CPU, where it beats PyTorch on the same weights.

Measured in ``bench/speed.py`` (docs/benchmarks.md, issue 15) on two CPUs, an AMD EPYC with
AVX512-BF16 and one with AVX2 only: OpenVINO's graph compiler fuses the dense blocks'
convolutions, activations, concatenations and residual scaling, which PyTorch's eager
mode runs as separate passes over activations far larger than the caches, and keeps
about 10,000 input pixels per second of ``standard`` on 2 cores from 256 px windows up,
where PyTorch falls from 10,000 at 256 px to 7,300 at 512 px and above.

Only the trunk (the first convolution and the 23 RRDB blocks, 93 % of the FLOPs) runs here;
the 4x upsampling tail stays with :class:`inference.execution.StripedUpsampler`, which
bounds its memory. The trunk is converted from the PyTorch module once per host (10-20 s)
and saved as OpenVINO IR in the model cache (:func:`inference.weights.model_cache_dir`);
each window shape is compiled statically (0.6-0.8 s; a static model needs a third less
memory than a dynamic one), one shape at a time since a compiled model holds its
activations. Compiled blobs are not cached on disk: OpenVINO's ``CACHE_DIR`` saved 0.3 s
per shape for 68 MB of disk per shape, and window shapes follow image sizes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from inference.weights import model_cache_dir

if TYPE_CHECKING:
    import openvino

logger = logging.getLogger(__name__)


def openvino_available() -> bool:
    """Whether the ``openvino`` package is installed (without importing it)."""
    return importlib.util.find_spec("openvino") is not None


def _digest(module: torch.nn.Module) -> str:
    """SHA-256 of a module's parameter and buffer names, shapes and values: the IR's cache key."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype};".encode())
        digest.update(tensor.detach().float().contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()


def _ir_path(module: torch.nn.Module) -> Path:
    import openvino

    version = openvino.get_version().split("-")[0]
    return model_cache_dir() / "openvino" / f"trunk.{_digest(module)[:16]}.ov{version}.xml"


def _save_ir(model: openvino.Model, target: Path) -> None:
    """Save IR (``.xml`` + ``.bin``) under temp names and rename the ``.bin`` before the ``.xml``, so a
    reader that finds the ``.xml`` finds its complete ``.bin``."""
    import openvino

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.stem}.", dir=target.parent))
    try:
        openvino.save_model(model, tmp / target.name, compress_to_fp16=False)
        for suffix in (".bin", ".xml"):
            part = (tmp / target.name).with_suffix(suffix)
            os.chmod(part, 0o644)
            os.replace(part, target.with_suffix(suffix))
    finally:
        for leftover in tmp.iterdir():
            leftover.unlink()
        tmp.rmdir()


def load_trunk_ir(module: torch.nn.Module) -> openvino.Model:
    """The OpenVINO model of ``module`` (float32, input (1, 3, H, W) of any size), converted once per host.

    Read from the model cache when an earlier process converted the same weights with the
    same OpenVINO release; otherwise converted (``openvino.convert_model``, 10-20 s for
    the 23-block trunk on 2 cores) and saved there. A cache that cannot be written only
    costs the next process the conversion again.
    """
    import openvino

    target = _ir_path(module)
    core = openvino.Core()
    if target.is_file():
        try:
            return core.read_model(str(target))
        except RuntimeError as exc:
            logger.warning("ignoring unreadable OpenVINO model cache %s: %s", target, exc)
    logger.info("converting the RRDB trunk to OpenVINO IR -> %s", target)
    # no_grad: the weights are inference tensors when the network was loaded under inference_mode,
    # and tracing with autograd on would try to save them for backward.
    with warnings.catch_warnings(), torch.no_grad():
        # convert_model traces with torch.jit.trace, which warns of its own deprecation.
        warnings.filterwarnings("ignore", category=FutureWarning, module="torch.jit")
        model = openvino.convert_model(
            module, example_input=torch.rand(1, 3, 32, 32), input=[openvino.PartialShape([1, 3, -1, -1])]
        )
    try:
        _save_ir(model, target)
    except OSError as exc:
        logger.warning("could not write OpenVINO model cache %s: %s", target, exc)
    return model


class OpenVinoTrunk:
    """The trunk of an RRDBNet run by OpenVINO on the CPU: a drop-in for ``StripedUpsampler.head``.

    Calling it maps (1, C, H, W) float in any memory format (the window) to (1, F, H, W)
    float32 channels_last features (F = 64 for Real-ESRGAN), as the PyTorch module would,
    within bfloat16 rounding when ``dtype`` is bfloat16 (the whole network stays above
    50 dB PSNR against float32 PyTorch). Thread-safe; windows run one at a time.

    Args:
        module: the trunk (spandrel ``RRDBNet.model[:2]``), float32 weights on the CPU.
        dtype: torch.bfloat16 (OpenVINO's ``bf16`` inference precision, on CPUs with
            AVX512-BF16 or AMX) or torch.float32.
        threads: OpenVINO's inference threads (one per physical core, like PyTorch's).

    Raises:
        ModuleNotFoundError: ``openvino`` is not installed.
    """

    def __init__(self, module: torch.nn.Module, dtype: torch.dtype, threads: int) -> None:
        import openvino

        self._model = load_trunk_ir(module)
        self._core = openvino.Core()
        self._config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": "bf16" if dtype == torch.bfloat16 else "f32",
            "INFERENCE_NUM_THREADS": threads,
            "PERFORMANCE_HINT": "LATENCY",
        }
        self._shape: tuple[int, int] | None = None
        self._compiled: openvino.CompiledModel | None = None
        self._lock = threading.Lock()

    def _compiled_for(self, height: int, width: int) -> openvino.CompiledModel:
        """The model compiled for (height, width); only one is kept: a compiled model holds its
        activation memory, so several would multiply the window budget."""
        if self._compiled is None or self._shape != (height, width):
            self._compiled = None  # freed before the next one allocates
            model = self._model.clone()
            model.reshape([1, 3, height, width])
            self._compiled = self._core.compile_model(model, "CPU", self._config)
            self._shape = (height, width)
        return self._compiled

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] != 1:
            raise ValueError(f"OpenVinoTrunk runs one window at a time, got a batch of {x.shape[0]}")
        pixels = np.ascontiguousarray(x.detach().float().cpu().numpy())
        with self._lock:
            request = self._compiled_for(*pixels.shape[2:]).create_infer_request()
            features = request.infer([pixels])[0]
            del request
        return torch.from_numpy(features).contiguous(memory_format=torch.channels_last)
