"""Mobile DeepLabv3 heads: R-ASPP and ASPP (V2 paper §6.3, Table 7), optionally with the DeepLabV3+
decoder (``decoder.py``); torchvision's ``DeepLabHead`` is the same module with its field values."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mobilenet.cost.profile import CostCounter, Shape
from mobilenet.layers.conv import ConvNormAct
from mobilenet.tasks.segmentation.decoder import Decoder, classifier_conv
from mobilenet.tasks.segmentation.specs import ASPPSpec


class ImagePooling(nn.Module):
    """Global average pool, 1x1 conv + BN + ReLU, spread back over the map (V2 §6.3: "image pooling");
    resizing a 1x1 map bilinearly (TF, torchvision) is this broadcast."""

    def __init__(self, in_channels: int, channels: int, **conv_options: Any) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv = ConvNormAct(in_channels, channels, 1, act="relu", **conv_options)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pool(x)).expand(-1, -1, x.shape[-2], x.shape[-1])


class ASPP(nn.Module):
    """Parallel branches on the last map (a 1x1 conv, 3x3 atrous convs at ``rates``, image pooling),
    concatenated in the spec's order and projected by a 1x1 conv with dropout."""

    def __init__(self, in_channels: int, spec: ASPPSpec, rates: tuple[int, ...], **conv_options: Any) -> None:
        super().__init__()
        self.pool_first = spec.pool_first
        c = spec.channels
        self.branches = nn.ModuleList([ConvNormAct(in_channels, c, 1, act="relu", **conv_options)] + [
            ConvNormAct(in_channels, c, 3, dilation=rate, act="relu", **conv_options) for rate in rates])
        self.pool = ImagePooling(in_channels, c, **conv_options)
        self.project = ConvNormAct((len(self.branches) + 1) * c, c, 1, act="relu", **conv_options)
        self.dropout = nn.Dropout(spec.dropout)
        self.rates = rates

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [branch(x) for branch in self.branches]
        pooled = self.pool(x)
        outputs = [pooled, *outputs] if self.pool_first else [*outputs, pooled]
        return self.dropout(self.project(torch.cat(outputs, 1)))

    def costs(self, counter: CostCounter, shape: Shape, prefix: str) -> Shape:
        c = self.project.conv.out_channels
        out = counter.conv(f"{prefix}branches.0.conv", shape, c, 1)
        counter.conv(f"{prefix}pool.conv.conv", (shape[0], 1, 1), c, 1)
        for i, rate in enumerate(self.rates, 1):
            counter.conv(f"{prefix}branches.{i}.conv", shape, c, 3, dilation=rate)
        return counter.conv(f"{prefix}project.conv", ((len(self.branches) + 1) * c, out[1], out[2]), c, 1)


class DeepLabV3Head(nn.Module):
    """ASPP, torchvision's 3x3 ``refine`` conv (or nothing), the DeepLabV3+ ``decoder`` (or nothing),
    then the 1x1 ``classifier``; returns logits at the last map's (or the decoder's) resolution."""

    def __init__(self, in_channels: int, num_classes: int, spec: ASPPSpec, rates: tuple[int, ...],
                 skip_channels: int = 0, **conv_options: Any) -> None:
        super().__init__()
        self.spec = spec
        c = spec.channels
        self.aspp = ASPP(in_channels, spec, rates, **conv_options)
        self.refine: nn.Module = ConvNormAct(c, c, 3, act="relu", **conv_options) if spec.refine else nn.Identity()
        self.decoder: nn.Module = (Decoder(c, skip_channels, spec.decoder, spec.align_corners, **conv_options)
                                   if spec.decoder else nn.Identity())
        self.classifier = nn.Conv2d(spec.decoder.channels if spec.decoder else c, num_classes, 1)

    def reset_classes(self, num_classes: int) -> None:
        self.classifier = classifier_conv(self.classifier.in_channels, num_classes)

    def forward(self, high: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        x = self.refine(self.aspp(high))
        if skip is not None:
            x = self.decoder(x, skip)
        return self.classifier(x)

    def costs(self, counter: CostCounter, high: Shape, skip: Shape | None, prefix: str) -> None:
        shape = self.aspp.costs(counter, high, f"{prefix}aspp.")
        if self.spec.refine:
            shape = counter.conv(f"{prefix}refine.conv", shape, shape[0], 3)
        if skip is not None:
            shape = self.decoder.costs(counter, shape, skip, f"{prefix}decoder.")
        counter.conv(f"{prefix}classifier", shape, self.classifier.out_channels, 1, bn=False, bias=True)


class AuxHead(nn.Module):
    """torchvision's ``FCNHead`` (the auxiliary classifier of its DeepLabV3 and FCN models)."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float, **conv_options: Any) -> None:
        super().__init__()
        inter = in_channels // 4
        self.layers = nn.Sequential(OrderedDict(
            conv=ConvNormAct(in_channels, inter, 3, act="relu", **conv_options),
            dropout=nn.Dropout(dropout),
            classifier=nn.Conv2d(inter, num_classes, 1),
        ))

    def reset_classes(self, num_classes: int) -> None:
        self.layers.classifier = classifier_conv(self.layers.classifier.in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def upsample(x: torch.Tensor, size: tuple[int, int] | torch.Size, align_corners: bool) -> torch.Tensor:
    """Bilinear resize of logits or features (TF DeepLab: ``align_corners=True``; torchvision: False)."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=align_corners)
