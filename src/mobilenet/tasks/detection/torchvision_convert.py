"""torchvision's ``ssdlite320_mobilenet_v3_large`` state dict into our detector of the same name.

torchvision splits its V3 trunk at C4 (``SSDLiteFeatureExtractorMobileNet``): ``backbone.features.0``
holds the stem, the blocks before C4 and the C4 block's expansion, ``backbone.features.1`` the rest
of that block (keys kept: ``.1``, ``.2``, ``.3``), the later blocks and the last conv; the extra
layers are ``backbone.extra.i.{0,1,2}`` and the predictors ``head.{classification,regression}_head
.module_list.i.{0,1}``. Both models order box codes (dx, dy, dw, dh) and anchors the same way.
"""

from __future__ import annotations

from typing import Mapping

import torch

from mobilenet.tasks.detection.model import SSD
from mobilenet.weights import torchvision as torchvision_weights
from mobilenet.weights.mapping import Unit, conv_bn, load_mapped

MARKER = "backbone.extra.0.0.0.weight"


def _backbone_units(model: SSD) -> list[Unit]:
    """Our backbone's units with torchvision's SSDLite names (from its classifier's key map)."""
    from mobilenet.models.registry import build_model

    config = model.backbone.config
    options = {k: v for k, v in config.options.items()
               if k not in ("features_only", "out_indices", "feature_location", "drop_last_conv")}
    classifier = build_model(config.name, **options)
    c4 = model.backbone.feature_info()[0]
    if c4.location != "expansion":
        raise ValueError(f"torchvision's SSDLite taps C4 at an expansion layer; this backbone taps {c4.module}")
    split = int(c4.module.split(".")[1]) + 1     # the C4 block's index in torchvision's ``features``

    def rename(source: str) -> str:
        _, index, *rest = source.split(".")
        n = int(index)
        if n < split:
            return ".".join(["backbone.features.0", index, *rest])
        if n == split:       # rest = ["block", j, ...]: the expansion stays before C4
            j = rest[1]
            return ".".join(["backbone.features.0", index, *rest[2:]] if j == "0"
                            else ["backbone.features.1.0", j, *rest[2:]])
        return ".".join(["backbone.features.1", str(n - split), *rest])

    ours = set(model.backbone.state_dict())
    units = [Unit(f"backbone.{u.target}", rename(u.source), u.kind) for u in torchvision_weights.key_map(classifier)
             if f"{u.target}.weight" in ours]
    return units


def key_map(model: SSD) -> list[Unit]:
    """Every module of ``model`` and its torchvision name."""
    units = _backbone_units(model)
    for i in range(len(model.extras)):
        base = f"backbone.extra.{i}"
        units += conv_bn(f"extras.{i}.reduce", f"{base}.0.0", f"{base}.0.1")
        units += conv_bn(f"extras.{i}.spatial", f"{base}.1.0", f"{base}.1.1", depthwise=True)
        units += conv_bn(f"extras.{i}.project", f"{base}.2.0", f"{base}.2.1")
    for ours, theirs in (("class_head", "classification_head"), ("box_head", "regression_head")):
        for i in range(len(getattr(model, ours))):
            base = f"head.{theirs}.module_list.{i}"
            units += conv_bn(f"{ours}.{i}.depthwise", f"{base}.0.0", f"{base}.0.1", depthwise=True)
            units.append(Unit(f"{ours}.{i}.conv", f"{base}.1", "conv_bias"))
    return units


def load_torchvision_ssdlite(model: SSD, state_dict: Mapping[str, torch.Tensor], origin: str = "state dict") -> SSD:
    """Fill ``model`` (``ssdlite320_mobilenet_v3_large`` with as many classes) strictly from torchvision's
    state dict; torchvision's ``num_classes`` counts the background, ours does not."""
    if MARKER not in state_dict:
        raise ValueError(f"{origin} is not a torchvision SSDLite state dict (no {MARKER!r}); first keys: "
                         f"{', '.join(list(state_dict)[:3])}")
    load_mapped(model, state_dict, key_map(model), "torch", f"torchvision SSDLite weights {origin}")
    return model
