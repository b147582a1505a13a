"""MobileNetV1's depthwise separable convolution (V1 paper §3.1, Fig. 3 right)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mobilenet.layers.conv import ConvNormAct


class DepthwiseSeparable(nn.Module):
    """k x k depthwise conv + BN + act, then 1x1 pointwise conv + BN + act."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int = 3,
        stride: int = 1,
        dilation: int = 1,
        act: str = "relu6",
        **conv_options: Any,
    ) -> None:
        super().__init__()
        self.depthwise = ConvNormAct(
            in_channels, in_channels, kernel, stride, groups=in_channels, dilation=dilation,
            act=act, **conv_options,
        )
        self.pointwise = ConvNormAct(in_channels, out_channels, 1, act=act, **conv_options)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))
