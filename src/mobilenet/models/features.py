"""Where a backbone's multi-scale features are tapped (V2 paper §6.2, V3 paper §6.3-6.4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mobilenet.specs.resolve import LayerPlan, Plan

FeatureLocation = Literal["block", "expansion", "depthwise"]
FEATURE_LOCATIONS: tuple[str, ...] = ("block", "expansion")
"""Where ``feature_taps`` finds one map per output stride; named taps may also be ``depthwise``."""


@dataclass(frozen=True)
class FeatureInfo:
    """One tapped feature map: which layer, its output stride and channels.

    ``module`` is the layer's name in the model (``stem``, ``blocks.12``, ``last_conv``);
    ``location`` says whether the tap is the layer's output, its expansion layer's output or its
    depthwise conv's output (TF DeepLab's ``depthwise_output`` end points).
    """

    module: str
    location: FeatureLocation
    reduction: int
    channels: int


def feature_taps(plan: Plan, nominal: Plan, location: FeatureLocation = "block") -> list[FeatureInfo]:
    """One tap per nominal output stride (2, 4, 8, 16, 32), the last one the pooled map.

    ``block``: the last layer at each stride. ``expansion``: the expansion layer of the block
    that leaves each stride (SSDLite's C4 is the expansion of V3-Large's 13th bottleneck, V3
    §6.3), then the map before pooling. ``nominal`` is the same plan at output stride 32; its
    strides decide the levels, so a dilated backbone keeps the same taps.
    """
    if location not in FEATURE_LOCATIONS:
        raise ValueError(f"unknown feature location {location!r}; valid: {', '.join(FEATURE_LOCATIONS)}")
    layers = [("stem", nominal.stem, plan.stem)]
    layers += [(f"blocks.{i}", n, p) for i, (n, p) in enumerate(zip(nominal.blocks, plan.blocks))]
    if plan.last_conv is not None and nominal.last_conv is not None:
        layers.append(("last_conv", nominal.last_conv, plan.last_conv))

    taps: list[FeatureInfo] = []
    for k, (name, layer, actual) in enumerate(layers):
        next_layer = layers[k + 1][1] if k + 1 < len(layers) else None
        is_last = next_layer is None
        leaves_level = next_layer is not None and next_layer.stride > 1
        if location == "block" and (leaves_level or is_last):
            taps.append(FeatureInfo(name, "block", actual.reduction, actual.out_channels))
        elif location == "expansion" and is_last:
            taps.append(FeatureInfo(name, "block", actual.reduction, actual.out_channels))
        elif location == "expansion" and leaves_level:
            next_name, _, next_actual = layers[k + 1]
            if _expands_before_stride(next_actual):
                taps.append(FeatureInfo(next_name, "expansion", next_actual.input_reduction,
                                        next_actual.expanded_channels))
            elif any(_expands_before_stride(layer) for _, _, layer in layers):
                # e.g. V4's FusedIB strides in its expansion conv: tap this level's last output instead
                taps.append(FeatureInfo(name, "block", actual.reduction, actual.out_channels))
            else:
                raise ValueError(f"{plan.spec.name} has no expansion layers; use location='block'")
    return taps


def _expands_before_stride(layer: LayerPlan) -> bool:
    """Whether the layer has a 1x1 expansion working at its input resolution (V2/V3 block, V4 UIB)."""
    if layer.kind == "bottleneck":
        return True
    # a universal block strides in its middle dw when it has one, else in its start dw (before the expansion)
    return layer.kind == "universal" and (layer.kernel > 0 or layer.stride == 1)


def named_taps(plan: Plan, names: tuple[str, ...] | list[str]) -> list[FeatureInfo]:
    """Taps named as torchvision's ``return_layers`` are: ``stem``, ``blocks.N`` (a block's output),
    ``blocks.N.expansion``, ``blocks.N.depthwise`` (an inverted bottleneck's expand or depthwise
    conv output) or ``last_conv``; a ValueError names the valid ones."""
    layers = {"stem": plan.stem, **{f"blocks.{i}": layer for i, layer in enumerate(plan.blocks)}}
    if plan.last_conv is not None:
        layers["last_conv"] = plan.last_conv
    taps = []
    for name in names:
        module, _, location = str(name).rpartition(".")
        if location not in ("expansion", "depthwise"):
            module, location = str(name), "block"
        layer = layers.get(module)
        if layer is None:
            raise ValueError(f"unknown feature tap {name!r} for {plan.spec.name}; valid: stem, blocks.0 .. "
                             f"blocks.{len(plan.blocks) - 1} (with .expansion or .depthwise for bottlenecks)"
                             + (", last_conv" if plan.last_conv is not None else ""))
        if location == "block":
            taps.append(FeatureInfo(module, "block", layer.reduction, layer.out_channels))
        elif layer.kind != "bottleneck" and not (location == "expansion" and layer.kind == "universal"):
            raise ValueError(f"feature tap {name!r}: {module} is a {layer.kind} layer without a {location} conv")
        elif location == "expansion":
            taps.append(FeatureInfo(module, "expansion", layer.input_reduction, layer.expanded_channels))
        else:
            taps.append(FeatureInfo(module, "depthwise", layer.reduction, layer.expanded_channels))
    return taps


def tap_position(info: FeatureInfo) -> tuple[int, int]:
    """(layer index, order inside the layer) of a tap: the stem is -1, the last conv after every block."""
    if info.module == "stem":
        index = -1
    elif info.module == "last_conv":
        index = 1 << 30
    else:
        index = int(info.module.split(".")[1])
    return index, ("expansion", "depthwise", "block").index(info.location)
