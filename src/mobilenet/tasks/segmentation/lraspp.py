"""LR-ASPP, the Lite Reduced Atrous Spatial Pyramid Pooling head (V3 paper §6.4, Fig. 10)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mobilenet.cost.profile import CostCounter, Shape
from mobilenet.layers.activations import make_activation
from mobilenet.layers.conv import ConvNormAct
from mobilenet.tasks.segmentation.decoder import classifier_conv
from mobilenet.tasks.segmentation.specs import LRASPPSpec


class LRASPP(nn.Module):
    """``branch`` (1x1 conv, BN, ReLU on the 1/16 map) times ``gate`` (global pool, 1x1 conv,
    sigmoid), upsampled to the skip's size and classified (``high_classifier``), plus the skip's
    own 1x1 classifier (``skip_classifier``); returns logits at the skip's resolution."""

    def __init__(self, high_channels: int, skip_channels: int, num_classes: int, spec: LRASPPSpec,
                 **conv_options: Any) -> None:
        super().__init__()
        self.spec = spec
        self.branch = ConvNormAct(high_channels, spec.channels, 1, act="relu", **conv_options)
        self.gate = nn.Sequential(OrderedDict(
            pool=nn.AdaptiveAvgPool2d(1),
            conv=nn.Conv2d(high_channels, spec.channels, 1, bias=spec.gate_bias),
            act=make_activation(spec.gate),
        ))
        self.high_classifier = nn.Conv2d(spec.channels, num_classes, 1)
        self.skip_classifier = nn.Conv2d(skip_channels, num_classes, 1)

    def reset_classes(self, num_classes: int) -> None:
        self.high_classifier = classifier_conv(self.high_classifier.in_channels, num_classes)
        self.skip_classifier = classifier_conv(self.skip_classifier.in_channels, num_classes)

    def forward(self, high: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.branch(high) * self.gate(high)
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=self.spec.align_corners)
        return self.skip_classifier(skip) + self.high_classifier(x)

    def costs(self, counter: CostCounter, high: Shape, skip: Shape, prefix: str) -> None:
        """Its rows, counted as the papers count (convs and their biases; no pooling or resizing)."""
        branch = counter.conv(f"{prefix}branch.conv", high, self.spec.channels, 1)
        counter.conv(f"{prefix}gate.conv", (high[0], 1, 1), self.spec.channels, 1, bn=False, bias=self.spec.gate_bias)
        num_classes = self.high_classifier.out_channels
        counter.conv(f"{prefix}high_classifier", (branch[0], skip[1], skip[2]), num_classes, 1, bn=False, bias=True)
        counter.conv(f"{prefix}skip_classifier", skip, num_classes, 1, bn=False, bias=True)
