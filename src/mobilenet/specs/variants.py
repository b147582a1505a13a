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

    Equal to the paper convention at width 1.0; differs at other widths (e.g. 0.75).
    """
    return replace(spec, expansion_rule="scaled_channels", head_rule="scaled")


def reduced_tail(spec: MobileNetSpec, divider: int = 2) -> MobileNetSpec:
    """V3 paper §6.3: divide the channels of every layer between C4 and C5 by ``divider``.

    C4 is the expansion of the last stride-2 bottleneck; from that block on, outputs (and the
    expansions of blocks whose input shrank) are divided, as tf-slim's ``V3_*_DETECTION`` does.
    torchvision also halves that first expansion and the 1280 head; we follow tf-slim.
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
        if isinstance(row, Bottleneck) and row.expanded is not None and i > first:
            changes["expanded"] = row.expanded // divider
        body[i] = replace(row, **changes)
    last_conv: Conv | None = None
    if spec.last_conv is not None:
        last_conv = replace(spec.last_conv, out=spec.last_conv.out // divider)
    return replace(spec, name=f"{spec.name}_reduced_tail", body=tuple(body), last_conv=last_conv)


def fixed_stem(spec: MobileNetSpec) -> MobileNetSpec:
    """The stem keeps its width-1.0 channels at every width (Keras V3; timm V3 below 0.75)."""
    return replace(spec, stem_rule="fixed")


def shrunk_last_conv(spec: MobileNetSpec) -> MobileNetSpec:
    """The last conv scales with the width below 1.0 too: TF Object Detection's SSD feature extractors
    call tf-slim's ``mobilenet_base`` without ``finegrain_classification_mode``, so V2-0.35's 1280
    becomes 448 (the V3 paper's SSDLite V2-0.35 / V2-0.5 rows, Table 6, count this)."""
    return replace(spec, last_conv_rule="scaled")
