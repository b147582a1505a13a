"""torchvision's ``lraspp_mobilenet_v3_large`` and ``deeplabv3_mobilenet_v3_large`` state dicts into ours.

torchvision's segmentation models keep the MobileNetV3 ``features`` as ``backbone.<i>`` (an
``IntermediateLayerGetter``), the head as ``classifier`` and the FCN auxiliary head as
``aux_classifier``. Our models of the same names built with ``convention="torchvision"`` have the
same layers; ``convert`` builds one and fills it strictly (every tensor used once, every shape
checked). ``LRASPP``: ``cbr`` is our ``branch``, ``scale`` our ``gate``, ``low_classifier`` our
``skip_classifier``. ``DeepLabHead``: ``0`` is the ASPP (``convs.0`` the 1x1, ``convs.1-3`` the atrous
convs, ``convs.4`` the pooling, ``project``), ``1, 2`` the 3x3 refine conv, ``4`` the classifier.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from mobilenet.weights.mapping import Unit, conv_bn, load_mapped
from mobilenet.weights.torchvision import trunk_units

MARKER = "backbone.0.0.weight"
NAMES = {"classifier.cbr.0.weight": "lraspp_mobilenet_v3_large",
         "classifier.0.convs.0.0.weight": "deeplabv3_mobilenet_v3_large"}


def model_name(state_dict: Mapping[str, torch.Tensor]) -> str:
    """Which torchvision segmenter a state dict holds; a ValueError otherwise."""
    for key, name in NAMES.items():
        if MARKER in state_dict and key in state_dict:
            return name
    raise ValueError(f"not a torchvision LR-ASPP or DeepLabV3 MobileNetV3 state dict (no {MARKER} with "
                     f"{' or '.join(NAMES)}); its first keys: {', '.join(list(state_dict)[:3])}")


def key_map(model: nn.Module) -> list[Unit]:
    """Our modules and torchvision's names for them."""
    units = trunk_units(model.backbone, v3=True, target_prefix="backbone.", source_prefix="backbone")
    head = model.head
    if hasattr(head, "gate"):  # LR-ASPP
        units += conv_bn("head.branch", "classifier.cbr.0", "classifier.cbr.1")
        units += [Unit("head.gate.conv", "classifier.scale.1", "conv_bias" if head.gate.conv.bias is not None
                       else "conv"),
                  Unit("head.high_classifier", "classifier.high_classifier", "conv_bias"),
                  Unit("head.skip_classifier", "classifier.low_classifier", "conv_bias")]
    else:
        aspp = head.aspp
        for i in range(len(aspp.branches)):
            units += conv_bn(f"head.aspp.branches.{i}", f"classifier.0.convs.{i}.0", f"classifier.0.convs.{i}.1")
        pool = len(aspp.branches)
        units += conv_bn("head.aspp.pool.conv", f"classifier.0.convs.{pool}.1", f"classifier.0.convs.{pool}.2")
        units += conv_bn("head.aspp.project", "classifier.0.project.0", "classifier.0.project.1")
        units += conv_bn("head.refine", "classifier.1", "classifier.2")
        units.append(Unit("head.classifier", "classifier.4", "conv_bias"))
    if model.has_aux:
        units += conv_bn("aux.layers.conv", "aux_classifier.0", "aux_classifier.1")
        units.append(Unit("aux.layers.classifier", "aux_classifier.4", "conv_bias"))
    return units


def load(model: nn.Module, state_dict: Mapping[str, torch.Tensor], origin: str = "a torchvision state dict") -> None:
    """Fill ``model`` (built with ``convention="torchvision"``) from torchvision's state dict, strictly."""
    load_mapped(model, state_dict, key_map(model), "torch", origin)


def convert(state_dict: Mapping[str, torch.Tensor], **options: Any) -> nn.Module:
    """Our model holding a torchvision segmentation state dict: the architecture, class count and
    auxiliary head are read from the tensors; ``options`` (e.g. ``resolution``) are passed on."""
    from mobilenet.models.registry import build_model

    name = model_name(state_dict)
    classes_key = "classifier.low_classifier.bias" if name.startswith("lraspp") else "classifier.4.bias"
    model = build_model(name, convention="torchvision", num_classes=int(state_dict[classes_key].shape[0]),
                         aux_loss="aux_classifier.0.weight" in state_dict, **options)
    load(model, state_dict, "a torchvision state dict")
    return model.eval()
