"""Width multiplier and output stride applied to a spec: the one place channels are computed.

``resolve(spec, width_mult, output_stride)`` gives a ``Plan``: every layer with its exact channels,
stride and dilation. The builder, the cost model and ``feature_info`` all read the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mobilenet.layers.rounding import make_divisible, truncate_channels
from mobilenet.specs.rows import (Bottleneck, Conv, FusedBottleneck, MobileAttention, MobileNetSpec, Separable,
                                  UniversalBottleneck, WideLayerRule)

LayerKind = Literal["conv", "separable", "bottleneck", "universal", "fused", "attention"]
OUTPUT_STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class LayerPlan:
    """One built layer: a conv, a separable pair or a bottleneck (V2/V3 inverted, V4 universal or fused).

    ``kernel`` is the depthwise kernel (a universal bottleneck's middle one, 0 when absent) or the
    conv's; ``start_kernel`` is a universal bottleneck's start depthwise kernel (0: absent).
    """

    kind: LayerKind
    row: int
    """Index of the spec row it comes from (-1 stem, len(body) last conv)."""
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    dilation: int
    act: str
    input_reduction: int
    """Output stride of this layer's input (where a bottleneck's expansion layer works)."""
    reduction: int
    """Output stride of this layer's output (input size / output size)."""
    expanded_channels: int = 0
    se_channels: int = 0
    start_kernel: int = 0
    heads: int = 0
    key_dim: int = 0
    kv_stride: int = 1
    layer_scale: float | None = None


@dataclass(frozen=True)
class Plan:
    """A resolved MobileNet: layers with their channels, plus what the head needs."""

    spec: MobileNetSpec
    width_mult: float
    output_stride: int
    stem: LayerPlan
    blocks: tuple[LayerPlan, ...]
    last_conv: LayerPlan | None
    head_channels: int | None

    @property
    def feature_channels(self) -> int:
        """Channels of the map that is pooled (output of ``forward_features``)."""
        return (self.last_conv or (self.blocks[-1] if self.blocks else self.stem)).out_channels

    @property
    def classifier_in(self) -> int:
        """Channels that reach the final linear classifier."""
        return self.head_channels or self.feature_channels


def _channels(spec: MobileNetSpec, channels: float, width_mult: float) -> int:
    if spec.channel_rule == "truncate":
        return truncate_channels(channels * width_mult, spec.min_channels)
    return make_divisible(channels * width_mult, spec.divisor, spec.min_channels)


def _wide_layer(spec: MobileNetSpec, channels: int, width_mult: float, rule: WideLayerRule) -> int:
    if rule == "fixed":
        return channels
    if rule == "keep_below_1":
        width_mult = max(1.0, width_mult)
    return _channels(spec, channels, width_mult)


MAX_WIDTH_MULT = 10.0
"""The papers go up to 1.4 (V2) and timm to 1.5; beyond 10 a model is no longer a mobile network."""


def check_width_mult(width_mult: float) -> None:
    """Raise a clear error unless ``width_mult`` is a number in (0, ``MAX_WIDTH_MULT``]."""
    if isinstance(width_mult, bool) or not isinstance(width_mult, (int, float)) or \
            not 0 < width_mult <= MAX_WIDTH_MULT:
        raise ValueError(f"width_mult must be a number in (0, {MAX_WIDTH_MULT:g}] (e.g. 0.25, 0.75, 1.0, 1.4), "
                         f"got {width_mult!r}")


def resolve(
    spec: MobileNetSpec, width_mult: float = 1.0, output_stride: int = 32, in_chans: int = 3
) -> Plan:
    """Apply the width multiplier (the paper's alpha) and output stride to ``spec``.

    output_stride < 32 turns later strides into dilation as DeepLab does (V2 paper §6.3): the
    layer whose stride is dropped keeps the current rate, the layers after it use the new one
    (``spec.dilation_rule="torchvision"``: that layer uses the new rate too).
    """
    check_width_mult(width_mult)
    if output_stride not in OUTPUT_STRIDES:
        raise ValueError(f"output_stride must be one of {OUTPUT_STRIDES}, got {output_stride!r}")
    if isinstance(in_chans, bool) or not isinstance(in_chans, int) or in_chans < 1:
        raise ValueError(f"in_chans must be a positive integer (3 for RGB, 1 for grayscale), got {in_chans!r}")

    reduction, dilation = 1, 1

    def place(stride: int) -> tuple[int, int, int, int]:
        """Return (stride, dilation, input reduction, output reduction) for a layer."""
        nonlocal reduction, dilation
        layer_dilation, in_red = dilation, reduction
        if stride > 1 and reduction * stride > output_stride:
            dilation *= stride
            stride = 1
            if spec.dilation_rule == "torchvision":  # torchvision's dilated=True: this layer dilates too
                layer_dilation = dilation
        reduction *= stride
        return stride, layer_dilation, in_red, reduction

    stem_out = _wide_layer(spec, spec.stem.out, width_mult, spec.stem_rule)
    s, d, in_red, red = place(spec.stem.stride)
    stem = LayerPlan("conv", -1, in_chans, stem_out, spec.stem.kernel, s, d, spec.stem.act, in_red, red)

    blocks: list[LayerPlan] = []
    in_ch, paper_in = stem_out, spec.stem.out
    for index, row in enumerate(spec.body):
        out = _channels(spec, row.out, width_mult)
        for repeat in range(row.repeats):
            s, d, in_red, red = place(row.stride if repeat == 0 else 1)
            if isinstance(row, Separable):
                blocks.append(LayerPlan("separable", index, in_ch, out, row.kernel, s, d, row.act, in_red,
                                        red))
            elif isinstance(row, Conv):
                blocks.append(LayerPlan("conv", index, in_ch, out, row.kernel, s, d, row.act, in_red, red))
            elif isinstance(row, UniversalBottleneck):
                expanded = make_divisible(in_ch * row.expansion, spec.divisor)
                blocks.append(LayerPlan("universal", index, in_ch, out, row.middle_kernel, s, d, row.act,
                                        in_red, red, expanded_channels=expanded, start_kernel=row.start_kernel,
                                        layer_scale=spec.layer_scale))
            elif isinstance(row, MobileAttention):
                blocks.append(LayerPlan("attention", index, in_ch, out, row.kernel, s, d, row.act, in_red, red,
                                        heads=row.heads, key_dim=row.key_dim, kv_stride=row.kv_stride,
                                        layer_scale=spec.layer_scale))
            elif isinstance(row, FusedBottleneck):
                expanded = make_divisible(in_ch * row.expansion, spec.divisor)
                blocks.append(LayerPlan("fused", index, in_ch, out, row.kernel, s, d, row.act, in_red, red,
                                        expanded_channels=expanded))
            else:
                expanded = _expanded_channels(spec, row, in_ch, paper_in, width_mult)
                se = make_divisible(expanded * spec.se_ratio, spec.divisor) if row.se else 0
                blocks.append(LayerPlan("bottleneck", index, in_ch, out, row.kernel, s, d, row.act, in_red,
                                        red, expanded_channels=expanded, se_channels=se))
            in_ch, paper_in = out, row.out

    last_conv = None
    if spec.last_conv is not None:
        last_out = _last_conv_channels(spec, spec.last_conv, in_ch, paper_in, width_mult)
        s, d, in_red, red = place(spec.last_conv.stride)
        last_conv = LayerPlan("conv", len(spec.body), in_ch, last_out, spec.last_conv.kernel, s, d,
                              spec.last_conv.act, in_red, red)
    head = None
    if spec.head_channels is not None:
        head = _wide_layer(spec, spec.head_channels, width_mult, spec.head_rule)
    return Plan(spec, float(width_mult), output_stride, stem, tuple(blocks), last_conv, head)


def _expanded_channels(spec: MobileNetSpec, row: Bottleneck, in_ch: int, paper_in: int,
                       width_mult: float) -> int:
    if row.expansion is not None:  # V2: t times the input channels (V2 Table 1)
        return int(round(in_ch * row.expansion))
    assert row.expanded is not None
    if spec.expansion_rule == "scaled_channels":  # torchvision: exp size scaled like any width
        return make_divisible(row.expanded * width_mult, spec.divisor)
    if row.expanded == paper_in:  # expansion 1: no expand conv (V3 Tables 1-2, first rows)
        return in_ch
    return make_divisible(in_ch * row.expanded / paper_in, spec.divisor)


def _last_conv_channels(spec: MobileNetSpec, conv: Conv, in_ch: int, paper_in: int,
                        width_mult: float) -> int:
    if spec.last_conv_rule == "keep_below_1":  # V2 §4
        return _wide_layer(spec, conv.out, width_mult, "keep_below_1")
    if spec.expansion_rule == "factor_of_input" and spec.head_channels is not None:
        # V3: the last conv is 6x its input in tf-slim and Keras.
        return make_divisible(in_ch * conv.out / paper_in, spec.divisor)
    return _channels(spec, conv.out, width_mult)
