"""Variants as functions of a spec, never copies of it."""

from __future__ import annotations

from dataclasses import replace

from mobilenet.specs.rows import Bottleneck, Conv, MobileNetSpec


def minimalistic(spec: MobileNetSpec) -> MobileNetSpec:
    """V3 "minimalistic": no SE, no hard-swish, no 5x5 (tf-slim ``V3_*_MINIMALISTIC``, Keras)."""
    relu = "relu"
    body = tuple(
        replace(row, kernel=3, se=False, act=relu) if isinstance(row, Bottleneck) else row
        for row in spec.body
    )
    last_conv = replace(spec.last_conv, act=relu) if spec.last_conv else None
    return replace(
        spec,
        name=f"{spec.name}_minimal",
        stem=replace(spec.stem, act=relu),
        body=body,
        last_conv=last_conv,
        head_act=relu,
    )


def torchvision_convention(spec: MobileNetSpec) -> MobileNetSpec:
    """torchvision's reading of V3: expansions scaled as channels, the 1280/1024 head scaled too.

    Equal to the paper convention at width 1.0 and output stride 32; differs at other widths (e.g.
    0.75), and below output stride 32 (``dilated=True`` dilates the first layer of the last stage too).
    """
    return replace(spec, expansion_rule="scaled_channels", head_rule="scaled", dilation_rule="torchvision")


def reduced_tail(spec: MobileNetSpec, divider: int = 2, first_expansion: bool = False) -> MobileNetSpec:
    """V3 paper §6.3: divide the channels of every layer between C4 and C5 by ``divider``.

    C4 is the expansion of the last stride-2 bottleneck; from that block on, outputs (and the
    expansions of blocks whose input shrank) are divided, as tf-slim's ``V3_*_DETECTION`` does.
    torchvision halves the 1280 head too; we follow tf-slim. ``first_expansion`` also divides the
    expansion of the first reduced block (C4's own), as TF DeepLab's ``mobilenet_v3_*_seg`` does
    for the segmentation models of V3 §6.4 (672 -> 336 on V3-Large).
    """
    if divider < 1:
        raise ValueError(f"divider must be >= 1, got {divider}")
    strided = [i for i, row in enumerate(spec.body) if row.stride > 1]
    if not strided:
        raise ValueError(f"{spec.name} has no strided block to reduce after")
    first = strided[-1]
    body = list(spec.body)
    for i in range(first, len(body)):
        row = body[i]
        changes: dict[str, object] = {"out": row.out // divider}
        if isinstance(row, Bottleneck) and (i > first or first_expansion):
            if row.expanded is not None:
                changes["expanded"] = row.expanded // divider
            elif i == first:  # V2: expansion is a factor of the (unreduced) input
                changes["expansion"] = row.expansion / divider
        body[i] = replace(row, **changes)
    last_conv: Conv | None = None
    if spec.last_conv is not None:
        last_conv = replace(spec.last_conv, out=spec.last_conv.out // divider)
    suffix = "_reduced_tail_seg" if first_expansion else "_reduced_tail"
    return replace(spec, name=f"{spec.name}{suffix}", body=tuple(body), last_conv=last_conv)


def fixed_stem(spec: MobileNetSpec) -> MobileNetSpec:
    """The stem keeps its width-1.0 channels at every width (Keras V3; timm V3 below 0.75)."""
    return replace(spec, stem_rule="fixed")


def shrunk_last_conv(spec: MobileNetSpec) -> MobileNetSpec:
    """The last conv scales with the width below 1.0 too: TF Object Detection's SSD feature extractors
    call tf-slim's ``mobilenet_base`` without ``finegrain_classification_mode``, so V2-0.35's 1280
    becomes 448 (the V3 paper's SSDLite V2-0.35 / V2-0.5 rows, Table 6, count this)."""
    return replace(spec, last_conv_rule="scaled")


def channel_divisor(spec: MobileNetSpec, divisor: int) -> MobileNetSpec:
    """Round widened channels to multiples of ``divisor`` (at least ``divisor`` channels).

    TF DeepLab builds MobileNetV2 at widths other than 1.0 with ``divisible_by=1, min_depth=1``
    (``feature_extractor._mobilenet_v2``): V2 0.5 has 12 channels where tf-slim's classifier has 16.
    """
    if isinstance(divisor, bool) or not isinstance(divisor, int) or divisor < 1:
        raise ValueError(f"channel_divisor must be a positive integer (8 as tf-slim, 1 as TF DeepLab), got {divisor!r}")
    return replace(spec, divisor=divisor, min_channels=divisor)
