"""Fixtures shared by the inference tests (no Django here)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module", autouse=True)
def _torch_threads() -> Iterator[None]:
    """Two PyTorch threads in every module, as on the CI machine, whatever an earlier test set; restored after."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _no_upscaler_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator's ``UPSCALER_DEVICE``, ``UPSCALER_PRECISION``, ``UPSCALER_TILE`` and ``UPSCALER_CPU_ENGINE``
    do not reach the tests; a test that needs one sets it."""
    for name in ("UPSCALER_DEVICE", "UPSCALER_PRECISION", "UPSCALER_TILE", "UPSCALER_CPU_ENGINE"):
        monkeypatch.delenv(name, raising=False)
