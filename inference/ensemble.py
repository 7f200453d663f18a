"""Geometric self-ensemble: average a network over the 8 flips and rotations of its input.

Lim et al., Enhanced Deep Residual Networks for Single Image Super-Resolution (EDSR),
CVPRW 2017, section 3.4 ("geometric self-ensemble"): the network is run on the input
rotated by 0/90/180/270 degrees, with and without a horizontal flip; each output is
transformed back and the eight are averaged. It costs 8x the compute and raises PSNR
for PSNR-oriented networks (our ``precise`` model's ``max_quality`` option).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Forward = Callable[[torch.Tensor], torch.Tensor]


def self_ensemble(forward: Forward) -> Forward:
    """Wrap ``forward`` ((N, C, H, W) -> (N, C, H*s, W*s), values in [0, 1]) in the x8 self-ensemble.

    The returned function has the same signature, dtype and device; the average is
    accumulated in float32.
    """

    def ensembled(x: torch.Tensor) -> torch.Tensor:
        total: torch.Tensor | None = None
        for quarter_turns in range(4):
            for flip in (False, True):
                t = torch.rot90(x, quarter_turns, dims=(2, 3))
                if flip:
                    t = t.flip(3)
                y = forward(t)
                if flip:
                    y = y.flip(3)
                y = torch.rot90(y, -quarter_turns, dims=(2, 3)).float()
                total = y if total is None else total.add_(y)
        assert total is not None
        return total.div_(8).to(x.dtype)

    return ensembled
