"""The layers an SSD head adds to a backbone: extra feature layers and box/class predictors.

SSD (V1 paper §4.7, TF Object Detection's ``multi_resolution_feature_maps``): each extra layer is a
1x1 conv to half its channels, then a 3x3 stride-2 conv, both with BN and ReLU6. SSDLite (V2 §6.2)
makes the 3x3 conv separable (depthwise + BN + ReLU6, then 1x1 + BN + ReLU6) and the predictors
too (depthwise + BN + ReLU6, then a 1x1 conv with bias). Parts a variant lacks are ``nn.Identity``,
so state-dict keys are the same for SSD and SSDLite.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mobilenet.layers.conv import ConvNormAct


def head_depth(channels: int, width_mult: float, min_depth: int) -> int:
    """TF Object Detection's ``depth_fn``: ``max(int(channels * width_mult), min_depth)``."""
    return max(int(channels * width_mult), min_depth)


class ExtraLayer(nn.Module):
    """1x1 ``reduce`` to ``mid`` channels, then a 3x3 stride-2 ``spatial`` conv to ``out`` (SSD), or a
    3x3 stride-2 depthwise ``spatial`` conv and a 1x1 ``project`` to ``out`` (SSDLite)."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, separable: bool,
                 **conv_options: Any) -> None:
        super().__init__()
        self.reduce = ConvNormAct(in_channels, mid_channels, 1, act="relu6", **conv_options)
        if separable:
            self.spatial = ConvNormAct(mid_channels, mid_channels, 3, 2, groups=mid_channels, act="relu6",
                                       **conv_options)
            self.project: nn.Module = ConvNormAct(mid_channels, out_channels, 1, act="relu6", **conv_options)
        else:
            self.spatial = ConvNormAct(mid_channels, out_channels, 3, 2, act="relu6", **conv_options)
            self.project = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.spatial(self.reduce(x)))


class Predictor(nn.Module):
    """``out`` outputs per location: a k x k conv with bias (SSD), or a k x k ``depthwise`` conv with
    BN and ReLU6 then a 1x1 ``conv`` with bias (SSDLite)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, separable: bool,
                 **conv_options: Any) -> None:
        super().__init__()
        self.depthwise: nn.Module = (ConvNormAct(in_channels, in_channels, kernel, groups=in_channels, act="relu6",
                                                 **conv_options) if separable else nn.Identity())
        final_kernel = 1 if separable else kernel
        # stride 1 and an odd kernel: TF "SAME" is symmetric padding
        self.conv = nn.Conv2d(in_channels, out_channels, final_kernel, padding=final_kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.depthwise(x))


def init_head(module: nn.Module, std: float = 0.03) -> None:
    """Normal(0, 0.03) conv weights and zero biases (torchvision's ``_normal_init``; TF Object
    Detection's SSD configs draw from a truncated normal with the same deviation)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def flatten_predictions(maps: list[torch.Tensor], per_box: int) -> torch.Tensor:
    """``(B, A * K, H, W)`` per map -> ``(B, sum(H W A), K)``: locations row-major, then the A boxes
    of a location (the anchors' order)."""
    return torch.cat([x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, per_box) for x in maps], 1)
