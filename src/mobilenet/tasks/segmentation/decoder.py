"""The DeepLabV3+ decoder (Chen et al. 2018, arXiv 1802.02611, §3.1) as TF DeepLab builds it for
MobileNetV2: the 1/4 map projected to 48 channels, joined with the upsampled ASPP output, refined
by two 3x3 (depthwise separable) convs."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mobilenet.cost.profile import CostCounter, Shape
from mobilenet.layers.conv import ConvNormAct
from mobilenet.tasks.segmentation.specs import DecoderSpec



def classifier_conv(in_channels: int, num_classes: int) -> nn.Conv2d:
    """A new 1x1 class predictor (``reset_classifier``): small normal weights, zero bias, so fine-tuning
    starts from near-uniform class scores."""
    conv = nn.Conv2d(in_channels, num_classes, 1)
    nn.init.normal_(conv.weight, 0, 0.01)
    nn.init.zeros_(conv.bias)
    return conv

class SeparableConv(nn.Module):
    """TF DeepLab's ``split_separable_conv2d``: 3x3 depthwise + BN + ReLU, 1x1 + BN + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, **conv_options: Any) -> None:
        super().__init__()
        self.depthwise = ConvNormAct(in_channels, in_channels, 3, groups=in_channels, act="relu", **conv_options)
        self.pointwise = ConvNormAct(in_channels, out_channels, 1, act="relu", **conv_options)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class Decoder(nn.Module):
    def __init__(self, in_channels: int, skip_channels: int, spec: DecoderSpec, align_corners: bool,
                 **conv_options: Any) -> None:
        super().__init__()
        self.spec, self.align_corners = spec, align_corners
        self.skip = ConvNormAct(skip_channels, spec.skip_channels, 1, act="relu", **conv_options)
        joined = in_channels + spec.skip_channels

        def refine(cin: int) -> nn.Module:
            if spec.separable:
                return SeparableConv(cin, spec.channels, **conv_options)
            return ConvNormAct(cin, spec.channels, 3, act="relu", **conv_options)

        self.refine = nn.Sequential(refine(joined), refine(spec.channels))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=self.align_corners)
        return self.refine(torch.cat([x, self.skip(skip)], 1))

    def costs(self, counter: CostCounter, shape: Shape, skip: Shape, prefix: str) -> Shape:
        projected = counter.conv(f"{prefix}skip.conv", skip, self.spec.skip_channels, 1)
        shape = (shape[0] + projected[0], skip[1], skip[2])
        for i in range(2):
            name = f"{prefix}refine.{i}"
            if self.spec.separable:
                shape = counter.conv(f"{name}.depthwise.conv", shape, shape[0], 3, groups=shape[0])
                shape = counter.conv(f"{name}.pointwise.conv", shape, self.spec.channels, 1)
            else:
                shape = counter.conv(f"{name}.conv", shape, self.spec.channels, 3)
        return shape
