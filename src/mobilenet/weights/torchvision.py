"""torchvision's MobileNetV2 / V3 ``state_dict`` files into our models.

torchvision keeps layers in ``features`` (stem, one entry per block, last conv) and the head in
``classifier``; V2 blocks hold a flat ``conv`` sequence, V3 blocks a ``block`` sequence whose
entries are numbered in order (expand if any, depthwise, SE if any, project).
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from mobilenet.blocks import InvertedResidual
from mobilenet.weights.mapping import Unit, conv_bn, load_mapped

MARKER = "features.0.0.weight"


def _block_units(index: int, block: nn.Module, v3: bool, target_prefix: str, source_prefix: str) -> list[Unit]:
    if not isinstance(block, InvertedResidual):
        raise ValueError("torchvision has no MobileNetV1; use a V2 or V3 model with torchvision weights")
    target, base = f"{target_prefix}blocks.{index}", f"{source_prefix}.{index + 1}"
    units: list[Unit] = []
    if v3:  # features.i.block.j: ConvBNActivation (.0 conv, .1 bn) or SqueezeExcitation (fc1, fc2)
        j = 0
        if not isinstance(block.expand, nn.Identity):
            units += conv_bn(f"{target}.expand", f"{base}.block.{j}.0", f"{base}.block.{j}.1")
            j += 1
        units += conv_bn(f"{target}.depthwise", f"{base}.block.{j}.0", f"{base}.block.{j}.1", depthwise=True)
        j += 1
        if not isinstance(block.se, nn.Identity):
            units += [Unit(f"{target}.se.reduce", f"{base}.block.{j}.fc1", "conv_bias"),
                      Unit(f"{target}.se.expand", f"{base}.block.{j}.fc2", "conv_bias")]
            j += 1
        return units + conv_bn(f"{target}.project", f"{base}.block.{j}.0", f"{base}.block.{j}.1")
    # V2: conv = [expand ConvBNReLU]?, depthwise ConvBNReLU, project Conv2d, BatchNorm2d
    j = 0
    if not isinstance(block.expand, nn.Identity):
        units += conv_bn(f"{target}.expand", f"{base}.conv.{j}.0", f"{base}.conv.{j}.1")
        j += 1
    units += conv_bn(f"{target}.depthwise", f"{base}.conv.{j}.0", f"{base}.conv.{j}.1", depthwise=True)
    return units + conv_bn(f"{target}.project", f"{base}.conv.{j + 1}", f"{base}.conv.{j + 2}")


def trunk_units(model: nn.Module, v3: bool, target_prefix: str = "", source_prefix: str = "features") -> list[Unit]:
    """The stem, blocks and last conv (those ``model`` has) of torchvision's ``features`` sequence,
    also as its segmentation models name it (``backbone.<i>``)."""
    units = conv_bn(f"{target_prefix}stem", f"{source_prefix}.0.0", f"{source_prefix}.0.1")
    for i, block in enumerate(model.blocks):
        units += _block_units(i, block, v3, target_prefix, source_prefix)
    last = len(model.blocks) + 1
    if not isinstance(model.last_conv, nn.Identity):
        units += conv_bn(f"{target_prefix}last_conv", f"{source_prefix}.{last}.0", f"{source_prefix}.{last}.1")
    return units


def key_map(model: nn.Module) -> list[Unit]:
    """Our modules and torchvision's names for them, layer by layer."""
    v3 = not isinstance(model.head_conv, nn.Identity)
    units = trunk_units(model, v3)
    if v3:  # classifier = Linear(960, 1280), Hardswish, Dropout, Linear(1280, classes)
        units += [Unit("head_conv", "classifier.0", "linear"), Unit("classifier", "classifier.3", "linear")]
    else:   # classifier = Dropout, Linear
        units.append(Unit("classifier", "classifier.1", "linear"))
    return units


def load(model: nn.Module, state_dict: Mapping[str, torch.Tensor], origin: str) -> None:
    """Fill ``model`` from a torchvision MobileNetV2/V3 state dict (strict, all or nothing)."""
    load_mapped(model, state_dict, key_map(model), "torch", f"torchvision weights {origin}")
