"""Layer scale: a learned per-channel factor on a residual branch, started near zero (CaiT, §2).

MobileNetV4's Hybrid models scale every UIB and attention branch this way, initialised to 1e-5.
"""

from __future__ import annotations

import torch
from torch import nn


class LayerScale(nn.Module):
    """``x * gamma`` with one ``gamma`` per channel of an NCHW map."""

    def __init__(self, channels: int, init: float = 1e-5) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((channels,), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma.view(1, -1, 1, 1)


def make_layer_scale(channels: int, init: float | None) -> nn.Module:
    """``LayerScale`` when ``init`` is given, else ``nn.Identity`` (no state-dict key)."""
    return LayerScale(channels, init) if init is not None else nn.Identity()
