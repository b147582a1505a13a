"""Squeeze-and-excitation as MobileNetV3 uses it (V3 paper §5.3, Fig. 4)."""

from __future__ import annotations

import torch
from torch import nn

from mobilenet.layers.activations import make_activation


class SqueezeExcite(nn.Module):
    """Global pool, 1x1 reduce + ReLU, 1x1 expand + hard-sigmoid gate, channel-wise multiply.

    The V3 paper fixes the squeeze width at 1/4 of the expansion channels; the builder rounds it
    with ``make_divisible`` as the reference code does.
    """

    def __init__(self, channels: int, squeeze_channels: int, gate: str = "hsigmoid") -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, squeeze_channels, 1)
        self.act = nn.ReLU(inplace=True)
        self.expand = nn.Conv2d(squeeze_channels, channels, 1)
        self.gate = make_activation(gate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.gate(self.expand(self.act(self.reduce(self.pool(x)))))
        return x * scale
