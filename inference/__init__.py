"""Super-resolution for Upscaler: pixels in, pixels out, no Django.

The names below are the package's public face. The first group imports neither
PyTorch nor spandrel, so the web tier validates requests with it at no cost; the
second group (the networks themselves) loads PyTorch on first use, in the worker
or the ``upscale`` command only::

    from inference import MODELS, open_image, resolve_options     # cheap
    from inference import upscale_image                            # imports torch now
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from inference.auto import choose_model
from inference.catalog import (
    AUTO,
    MAX_SCALE_FACTOR,
    MODEL_CHOICES,
    MODEL_LABELS,
    MODELS,
    SCALE_FACTORS,
    ModelSpec,
    UnknownModel,
    get_spec,
    scale_factors_up_to,
)
from inference.imageio import (
    ALLOWED_FORMATS,
    FORMAT_CONTENT_TYPES,
    FORMAT_EXTENSIONS,
    OUTPUT_FORMATS,
    WEBP_MAX_SIDE,
    ImageHeader,
    InvalidImage,
    SourceImage,
    encode,
    open_image,
    probe_image,
)
from inference.sizing import (
    MAX_TARGET_SIDE,
    MIN_SCALE_FACTOR,
    SizeError,
    UpscaleOptions,
    output_size,
    resolve_options,
)

if TYPE_CHECKING:
    from inference.pipeline import UpscaleResult, upscale_image
    from inference.tiling import InferenceError

#: Public names that need PyTorch, and the module each lives in (imported on first access).
_HEAVY = {
    "upscale_image": "inference.pipeline",
    "UpscaleResult": "inference.pipeline",
    "InferenceError": "inference.tiling",
}

__all__ = [
    "ALLOWED_FORMATS",
    "AUTO",
    "FORMAT_CONTENT_TYPES",
    "FORMAT_EXTENSIONS",
    "MAX_SCALE_FACTOR",
    "MAX_TARGET_SIDE",
    "MIN_SCALE_FACTOR",
    "MODELS",
    "MODEL_CHOICES",
    "MODEL_LABELS",
    "OUTPUT_FORMATS",
    "SCALE_FACTORS",
    "WEBP_MAX_SIDE",
    "ImageHeader",
    "InferenceError",
    "InvalidImage",
    "ModelSpec",
    "SizeError",
    "SourceImage",
    "UnknownModel",
    "UpscaleOptions",
    "UpscaleResult",
    "choose_model",
    "encode",
    "get_spec",
    "open_image",
    "output_size",
    "probe_image",
    "resolve_options",
    "scale_factors_up_to",
    "upscale_image",
]


def __getattr__(name: str) -> Any:
    """Load the PyTorch half of the public face on first use (PEP 562)."""
    module = _HEAVY.get(name)
    if module is None:
        raise AttributeError(f"module 'inference' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
