"""Stand-in networks for the tiling and pipeline tests: tiny, deterministic, no weights.

Each takes a float32 batch (N, 3, H, W) in [0, 1] and returns (N, 3, H*scale, W*scale).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def nearest(scale: int):
    """A network with no context: nearest-neighbour upsampling, so any tiling is exact."""

    def forward(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=scale, mode="nearest")

    return forward


def smooth_net(scale: int):
    """A network whose output depends on neighbours: 3x3 conv, bilinear upsample (context radius 2 px)."""
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(3, 3, 3, 3, generator=generator) / 9
    bias = torch.randn(3, generator=generator) / 10

    def forward(x: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(x, weight, bias, padding=1)
        return torch.sigmoid(F.interpolate(y, scale_factor=scale, mode="bilinear", align_corners=False))

    return forward
