"""MobileNetV4's Universal Inverted Bottleneck and FusedIB (V4 paper §3.2, Fig. 4)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mobilenet.layers.conv import ConvNormAct
from mobilenet.layers.layer_scale import make_layer_scale


class UniversalBottleneck(nn.Module):
    """Optional start dw, 1x1 expand, optional middle dw, linear 1x1 project, residual when shapes agree.

    Parts are named ``start``, ``expand``, ``middle``, ``project``; an absent depthwise conv is
    ``nn.Identity`` so state-dict keys stay stable. The start dw has no activation (V4 §3.2: it
    is applied to the block input, before the expansion); the stride goes to the middle dw when
    there is one, else to the start dw.
    """

    def __init__(
        self,
        in_channels: int,
        expanded_channels: int,
        out_channels: int,
        start_kernel: int = 0,
        middle_kernel: int = 3,
        stride: int = 1,
        dilation: int = 1,
        act: str = "relu",
        layer_scale: float | None = None,
        **conv_options: Any,
    ) -> None:
        super().__init__()
        if stride > 1 and not (start_kernel or middle_kernel):
            raise ValueError("a strided UniversalBottleneck needs a start or middle depthwise conv")
        start_stride = 1 if middle_kernel else stride
        self.start: nn.Module = (
            ConvNormAct(in_channels, in_channels, start_kernel, start_stride, groups=in_channels,
                        dilation=dilation, act="linear", **conv_options)
            if start_kernel else nn.Identity()
        )
        self.expand = ConvNormAct(in_channels, expanded_channels, 1, act=act, **conv_options)
        self.middle: nn.Module = (
            ConvNormAct(expanded_channels, expanded_channels, middle_kernel, stride, groups=expanded_channels,
                        dilation=dilation, act=act, **conv_options)
            if middle_kernel else nn.Identity()
        )
        self.project = ConvNormAct(expanded_channels, out_channels, 1, act="linear", **conv_options)
        self.scale = make_layer_scale(out_channels, layer_scale)  # V4 Hybrid only
        self.use_residual = stride == 1 and in_channels == out_channels

    def forward_with_expansion(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Block output and the expand conv's output, before the (strided) middle dw: the same tap as
        V3's expansion layer (V3 §6.3), at the block's input resolution when the middle dw strides."""
        expanded = self.expand(self.start(x))
        out = self.scale(self.project(self.middle(expanded)))
        return (out + x if self.use_residual else out), expanded

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_expansion(x)[0]


class FusedBottleneck(nn.Module):
    """k x k expansion conv (with the stride) + BN + act, linear 1x1 projection, residual when shapes agree."""

    def __init__(
        self,
        in_channels: int,
        expanded_channels: int,
        out_channels: int,
        kernel: int = 3,
        stride: int = 1,
        dilation: int = 1,
        act: str = "relu",
        **conv_options: Any,
    ) -> None:
        super().__init__()
        self.expand = ConvNormAct(in_channels, expanded_channels, kernel, stride, dilation=dilation, act=act,
                                  **conv_options)
        self.project = ConvNormAct(expanded_channels, out_channels, 1, act="linear", **conv_options)
        self.use_residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # no expansion tap: the expansion conv strides, so its output is not at the block's input
        # resolution (feature_taps uses this level's block output instead)
        out = self.project(self.expand(x))
        return out + x if self.use_residual else out
