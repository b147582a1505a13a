"""The inverted residual with linear bottleneck (V2 paper §3.3, Table 1; V3 paper §5 adds SE)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mobilenet.blocks.squeeze_excite import SqueezeExcite
from mobilenet.layers.conv import ConvNormAct


class InvertedResidual(nn.Module):
    """1x1 expand, k x k depthwise, optional SE, linear 1x1 project, residual when shapes agree.

    Optional parts are ``nn.Identity`` so state-dict keys do not depend on the options:
    ``expand`` when the expansion is 1 (V2 Table 2 first row), ``se`` when the row has no SE.
    """

    def __init__(
        self,
        in_channels: int,
        expanded_channels: int,
        out_channels: int,
        kernel: int = 3,
        stride: int = 1,
        dilation: int = 1,
        se_channels: int = 0,
        act: str = "relu6",
        **conv_options: Any,
    ) -> None:
        super().__init__()
        self.expand: nn.Module = (
            ConvNormAct(in_channels, expanded_channels, 1, act=act, **conv_options)
            if expanded_channels != in_channels
            else nn.Identity()
        )
        self.depthwise = ConvNormAct(
            expanded_channels, expanded_channels, kernel, stride, groups=expanded_channels,
            dilation=dilation, act=act, **conv_options,
        )
        self.se: nn.Module = (
            SqueezeExcite(expanded_channels, se_channels) if se_channels > 0 else nn.Identity()
        )
        # V2 paper §3.2: the projection is linear; a non-linearity here destroys information.
        self.project = ConvNormAct(expanded_channels, out_channels, 1, act="linear", **conv_options)
        # V2 paper §3.3: shortcuts join bottlenecks of equal shape only.
        self.use_residual = stride == 1 and in_channels == out_channels

    def forward_taps(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Block output, and the expansion layer's (the SSDLite tap, V3 §6.3) and depthwise conv's
        outputs (TF DeepLab's ``depthwise_output`` end point, the LR-ASPP skip)."""
        expanded = self.expand(x)
        depthwise = self.depthwise(expanded)
        out = self.project(self.se(depthwise))
        if self.use_residual:
            out = out + x
        return out, {"expansion": expanded, "depthwise": depthwise}

    def forward_with_expansion(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Block output and the expansion layer's output (the SSDLite/LR-ASPP tap, V3 §6.3)."""
        out, taps = self.forward_taps(x)
        return out, taps["expansion"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_taps(x)[0]
