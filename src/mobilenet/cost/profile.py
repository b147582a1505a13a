"""Parameters and multiply-adds per layer, counted the papers' way (V1 paper §3, Table 2).

Counted: multiply-adds of convolutions and fully connected layers (the SE 1x1 convs are FC
layers on pooled features), with BN folded into the conv. Not counted: BN, activations,
pooling, the SE product and residual adds. Computed from the resolved spec and the input size,
not from a forward pass, so it is exact for any resolution.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from torch import nn

from mobilenet.layers.conv import padding_amounts
from mobilenet.models.mobilenet import MobileNet
from mobilenet.specs.resolve import LayerPlan

Shape = tuple[int, int, int]


@dataclass(frozen=True)
class LayerCost:
    """One conv or FC op: its module name, kind, shapes (C, H, W), params and multiply-adds."""

    layer: str
    kind: str
    input_shape: Shape
    output_shape: Shape
    params: int
    """Weights and biases, BN excluded (BN folds into the conv at inference)."""
    bn_params: int
    """BN scale and shift that follow this op (what training-time parameter counts add)."""
    macs: int


@dataclass(frozen=True)
class Profile:
    """A model's cost at one resolution: per-layer rows and totals."""

    model: str
    resolution: int
    width_mult: float
    layers: list[LayerCost] = field(default_factory=list)

    @property
    def params(self) -> int:
        """Parameters without BN (the papers' convention)."""
        return sum(row.params for row in self.layers)

    @property
    def params_with_bn(self) -> int:
        """Parameters with BN scale and shift (what ``sum(p.numel())`` gives, e.g. torchvision)."""
        return self.params + sum(row.bn_params for row in self.layers)

    @property
    def macs(self) -> int:
        return sum(row.macs for row in self.layers)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "resolution": self.resolution,
            "width_mult": self.width_mult,
            "params": self.params,
            "params_with_bn": self.params_with_bn,
            "macs": self.macs,
            "layers": [asdict(row) for row in self.layers],
        }


def conv_output_size(size: int, kernel: int, stride: int, dilation: int, padding: str,
                     depthwise: bool = False) -> int:
    """Spatial output size of a conv under our padding modes."""
    total = sum(padding_amounts(size, kernel, stride, dilation, padding, depthwise))
    return (size + total - dilation * (kernel - 1) - 1) // stride + 1


class CostCounter:
    """Adds one ``LayerCost`` row per conv or FC op; task heads count themselves with it too."""

    def __init__(self, padding: str = "symmetric", as_standard_conv: bool = False) -> None:
        self.padding = padding
        self.as_standard_conv = as_standard_conv
        self.rows: list[LayerCost] = []

    def conv(self, name: str, shape: Shape, out_channels: int, kernel: int, stride: int = 1,
             dilation: int = 1, groups: int = 1, bn: bool = True, kind: str | None = None,
             bias: bool = False) -> Shape:
        """A conv (+ BN unless ``bn`` is False; ``bias`` for a conv with its own bias, e.g. a classifier)."""
        channels, height, width = shape
        depthwise = groups > 1 and groups == channels
        out_h = conv_output_size(height, kernel, stride, dilation, self.padding, depthwise)
        out_w = conv_output_size(width, kernel, stride, dilation, self.padding, depthwise)
        weights = kernel * kernel * (channels // groups) * out_channels
        if kind is None:
            kind = f"dw {kernel}x{kernel}" if groups > 1 else f"conv {kernel}x{kernel}"
            kind = "pw 1x1" if kernel == 1 and groups == 1 else kind
        out_shape = (out_channels, out_h, out_w)
        self.rows.append(LayerCost(name, kind, shape, out_shape, weights + (out_channels if bias else 0),
                                   2 * out_channels if bn else 0, weights * out_h * out_w))
        return out_shape

    def fc(self, name: str, in_features: int, out_features: int, kind: str = "fc", bn: bool = False) -> None:
        """A fully connected layer; with ``bn`` it has BN instead of a bias (V4's head)."""
        weights = in_features * out_features
        self.rows.append(LayerCost(name, kind, (in_features, 1, 1), (out_features, 1, 1),
                                   weights + (0 if bn else out_features), 2 * out_features if bn else 0, weights))

    def layer(self, name: str, layer: LayerPlan, shape: Shape) -> Shape:
        k, s, d = layer.kernel, layer.stride, layer.dilation
        if layer.kind == "conv":
            return self.conv(f"{name}.conv", shape, layer.out_channels, k, s, d)
        if layer.kind == "separable":
            if self.as_standard_conv:  # V1 Table 4: one full conv in place of dw + pw
                return self.conv(f"{name}", shape, layer.out_channels, k, s, d, kind=f"conv {k}x{k}")
            shape = self.conv(f"{name}.depthwise.conv", shape, shape[0], k, s, d, groups=shape[0])
            return self.conv(f"{name}.pointwise.conv", shape, layer.out_channels, 1)
        if layer.kind == "universal":
            return self.universal(name, layer, shape)
        if layer.kind == "attention":
            return self.attention(name, layer, shape)
        if layer.kind == "fused":
            shape = self.conv(f"{name}.expand.conv", shape, layer.expanded_channels, k, s, d)
            return self.conv(f"{name}.project.conv", shape, layer.out_channels, 1)
        if layer.expanded_channels != layer.in_channels:
            shape = self.conv(f"{name}.expand.conv", shape, layer.expanded_channels, 1)
        groups = 1 if self.as_standard_conv else shape[0]
        shape = self.conv(f"{name}.depthwise.conv", shape, shape[0], k, s, d, groups=groups)
        if layer.se_channels:
            self.fc(f"{name}.se.reduce", shape[0], layer.se_channels, kind="se fc")
            self.fc(f"{name}.se.expand", layer.se_channels, shape[0], kind="se fc")
        return self.conv(f"{name}.project.conv", shape, layer.out_channels, 1)

    def universal(self, name: str, layer: LayerPlan, shape: Shape) -> Shape:
        """V4's UIB: optional start dw, expand, optional middle dw (which takes the stride), project."""
        s, d = layer.stride, layer.dilation
        if layer.start_kernel:
            groups = 1 if self.as_standard_conv else shape[0]
            shape = self.conv(f"{name}.start.conv", shape, shape[0], layer.start_kernel, 1 if layer.kernel else s, d,
                              groups=groups)
        shape = self.conv(f"{name}.expand.conv", shape, layer.expanded_channels, 1)
        if layer.kernel:
            groups = 1 if self.as_standard_conv else shape[0]
            shape = self.conv(f"{name}.middle.conv", shape, shape[0], layer.kernel, s, d, groups=groups)
        shape = self.conv(f"{name}.project.conv", shape, layer.out_channels, 1)
        return self.layer_scale(f"{name}.scale", layer, shape)

    def layer_scale(self, name: str, layer: LayerPlan, shape: Shape) -> Shape:
        """V4 Hybrid's per-channel branch scale: parameters, no multiply-adds (like BN)."""
        if layer.layer_scale is not None:
            self.rows.append(LayerCost(name, "layer scale", shape, shape, shape[0], 0, 0))
        return shape

    def attention(self, name: str, layer: LayerPlan, shape: Shape) -> Shape:
        """V4's Mobile MQA: pre-norm, q/k/v 1x1 (k, v on a downsampled map), both matmuls, output 1x1."""
        channels, height, width = shape
        self.rows.append(LayerCost(f"{name}.norm", "bn", shape, shape, 0, 2 * channels, 0))
        inner = layer.heads * layer.key_dim
        query = self.conv(f"{name}.query", shape, inner, 1, bn=False)
        keys = shape
        if layer.kv_stride > 1:
            keys = self.conv(f"{name}.key_down.conv", shape, channels, layer.kernel, layer.kv_stride,
                             layer.dilation, groups=channels)
            self.conv(f"{name}.value_down.conv", shape, channels, layer.kernel, layer.kv_stride, layer.dilation,
                      groups=channels)
        self.conv(f"{name}.key", keys, layer.key_dim, 1, bn=False)
        self.conv(f"{name}.value", keys, layer.key_dim, 1, bn=False)
        queries, pairs = query[1] * query[2], keys[1] * keys[2]
        self.rows.append(LayerCost(f"{name}.attend", "attention", shape, (inner, height, width), 0, 0,
                                   layer.heads * queries * pairs * 2 * layer.key_dim))
        out = self.conv(f"{name}.output", (inner, height, width), layer.out_channels, 1, bn=False)
        return self.layer_scale(f"{name}.scale", layer, out)


def profile(model: nn.Module, resolution: int | tuple[int, int] | None = None,
            as_standard_conv: bool = False) -> Profile:
    """Per-layer params and multiply-adds of ``model`` at ``resolution`` (its nominal one by default).

    ``as_standard_conv`` counts every depthwise separable conv as a standard conv instead (V1
    paper Table 4, "Conv MobileNet"); for bottlenecks the depthwise conv becomes a full conv.
    A task model (detector, segmenter) is its backbone's rows (``backbone.*``) plus the rows its
    ``head_costs(counter, feature_shapes, input_shape)`` adds for the heads.
    """
    if not isinstance(model, MobileNet):
        return _task_profile(model, resolution, as_standard_conv)
    rows, _ = backbone_costs(model, resolution, as_standard_conv)
    return Profile(model.model_name, rows[0].input_shape[1], model.width_mult, rows)


def backbone_costs(model: MobileNet, resolution: int | tuple[int, int] | None = None,
                   as_standard_conv: bool = False, prefix: str = "") -> tuple[list[LayerCost], list[Shape]]:
    """The rows of a MobileNet, and the shapes (C, H, W) of the maps ``feature_info()`` lists."""
    resolution = model.resolution if resolution is None else resolution
    height, width = (resolution, resolution) if isinstance(resolution, int) else resolution
    for size in (height, width):
        model._check_size(size, "resolution")
    counter = CostCounter(model.padding, as_standard_conv)
    plan = model.plan
    taps = {(info.module, info.location): i for i, info in enumerate(model.feature_info())}
    tapped: dict[int, Shape] = {}
    shape: Shape = (model.in_chans, height, width)
    shape = counter.layer(f"{prefix}stem", plan.stem, shape)
    if ("stem", "block") in taps:
        tapped[taps["stem", "block"]] = shape
    for i, block in enumerate(plan.blocks):
        if ("blocks.%d" % i, "expansion") in taps:
            tapped[taps["blocks.%d" % i, "expansion"]] = (block.expanded_channels, shape[1], shape[2])
        if model.partial_last and i == len(plan.blocks) - 1:  # a backbone tapping this block's inside
            shape = counter.conv(f"{prefix}blocks.{i}.start.conv", shape, shape[0], block.start_kernel, 1,
                                 block.dilation, groups=shape[0]) if block.start_kernel else shape
            if block.expanded_channels != block.in_channels or block.kind == "universal":
                shape = counter.conv(f"{prefix}blocks.{i}.expand.conv", shape, block.expanded_channels, 1)
            if model.partial_last == "depthwise":
                shape = counter.conv(f"{prefix}blocks.{i}.depthwise.conv", shape, shape[0], block.kernel,
                                     block.stride, block.dilation, groups=shape[0])
                tapped[taps[f"blocks.{i}", "depthwise"]] = shape
            break
        shape = counter.layer(f"{prefix}blocks.{i}", block, shape)
        if (f"blocks.{i}", "depthwise") in taps:  # the depthwise output: expanded channels, the block's size
            tapped[taps[f"blocks.{i}", "depthwise"]] = (block.expanded_channels, shape[1], shape[2])
        if (f"blocks.{i}", "block") in taps:
            tapped[taps[f"blocks.{i}", "block"]] = shape
    if plan.last_conv is not None:
        shape = counter.layer(f"{prefix}last_conv", plan.last_conv, shape)
        if ("last_conv", "block") in taps:
            tapped[taps["last_conv", "block"]] = shape
    features = shape[0]
    if plan.head_channels:
        counter.fc(f"{prefix}head_conv", features, plan.head_channels, bn=plan.spec.head_norm)
        features = plan.head_channels
    if model.num_classes:
        counter.fc(f"{prefix}classifier", features, model.num_classes)
    return counter.rows, [tapped[i] for i in sorted(tapped)]


def _task_profile(model: nn.Module, resolution: int | tuple[int, int] | None, as_standard_conv: bool) -> Profile:
    backbone = getattr(model, "backbone", None)
    head_costs = getattr(model, "head_costs", None)
    if not isinstance(backbone, MobileNet) or head_costs is None:
        raise ValueError(f"cannot profile {type(model).__name__}: it is neither a MobileNet nor a task model with a "
                         "MobileNet backbone and head_costs()")
    resolution = model.resolution if resolution is None else resolution
    height, width = (resolution, resolution) if isinstance(resolution, int) else resolution
    rows, shapes = backbone_costs(backbone, (height, width), as_standard_conv, prefix="backbone.")
    counter = CostCounter(backbone.padding, as_standard_conv)
    head_costs(counter, shapes, (backbone.in_chans, height, width))
    return Profile(model.config.name, height, backbone.width_mult, rows + counter.rows)
