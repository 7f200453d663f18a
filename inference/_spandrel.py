"""spandrel, imported without the ~1.5-2 s its architecture registry spends importing torchvision.

spandrel 0.4.2 imports every architecture it knows when it is imported. Two of them, LaMa
(inpainting) and RestoreFormer (face restoration), import ``torchvision.transforms.functional``
at module level, which imports ``torchvision.models``, ``torchvision.ops`` and through
``roi_align`` all of ``torch._dynamo``: measured 1.4 s of the 5.2 s a 64x64 ``manage.py
upscale`` took on a 2-core AMD EPYC, for names used only when those two networks run,
which this project never does. Upstream has the fix as an open pull request
(chaiNNer-org/spandrel#331, "defer torchvision imports").

Until a release has it, :func:`import_spandrel` imports spandrel with a placeholder module
standing in for ``torchvision.transforms.functional``: every name imported from it is a
:class:`_Deferred` that imports the real torchvision the first time it is used. The
placeholder is removed from ``sys.modules`` right after, so a later ``import torchvision``
(the face detector's) gets the real package. When torchvision is already imported, nothing
is replaced.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_DEFERRED_MODULE = "torchvision.transforms.functional"


class _Deferred:
    """Stands for ``getattr(<module>, name)`` and resolves it on first use (call or attribute)."""

    def __init__(self, module: str, name: str) -> None:
        self._module, self._name = module, name

    def _resolve(self) -> Any:
        return getattr(importlib.import_module(self._module), self._name)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._resolve(), attribute)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._resolve()(*args, **kwargs)


def _placeholder(module: str) -> types.ModuleType:
    placeholder = types.ModuleType(module, "Placeholder while spandrel imports (inference._spandrel).")
    placeholder.__getattr__ = lambda name: _Deferred(module, name)  # type: ignore[method-assign]  # PEP 562
    return placeholder


def import_spandrel() -> types.ModuleType:
    """``import spandrel``, with torchvision left unimported (see the module docstring).

    Returns:
        The ``spandrel`` module.
    """
    if "spandrel" in sys.modules or _DEFERRED_MODULE in sys.modules:
        return importlib.import_module("spandrel")
    placeholder = _placeholder(_DEFERRED_MODULE)
    sys.modules[_DEFERRED_MODULE] = placeholder
    try:
        return importlib.import_module("spandrel")
    finally:
        if sys.modules.get(_DEFERRED_MODULE) is placeholder:
            del sys.modules[_DEFERRED_MODULE]
        # Should an architecture import torchvision itself, it saw the placeholder: drop that copy.
        for name in [name for name in sys.modules if name == "torchvision" or name.startswith("torchvision.")]:
            del sys.modules[name]
