"""Segmentation heads as data, and where they read the backbone.

- LR-ASPP, V3 paper §6.4 Fig. 10: a 1x1 conv branch on the last (1/16) map, gated by its pooled
  features, upsampled, classified, plus a classifier on a 1/8 skip.
- Mobile DeepLabv3, V2 paper §6.3 Table 7: R-ASPP (a 1x1 conv and image pooling) or full ASPP
  (plus 3x3 atrous convs), a 1x1 projection and a 1x1 classifier; optionally the DeepLabV3+
  decoder (Chen et al. 2018 §3.1) that joins a 1/4 map.
- torchvision's FCN auxiliary head (``FCNHead``) for the auxiliary loss.

Each head has two readings: ``paper`` (TF DeepLab, whose trained files exist: the Coral DeepLab,
the Cityscapes LR-ASPP checkpoints) and ``torchvision`` (``segmentation/lraspp.py``,
``deeplabv3.py``). They differ in taps, gates, concat order and resizing; the fields say how.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal, Mapping, Union

TapLayer = Literal["first", "last"]
TapLocation = Literal["block", "depthwise"]


@dataclass(frozen=True)
class Tap:
    """A backbone map a head reads: the first or last layer at an output stride (of the undilated
    network), its output (``block``) or its depthwise conv's output (``depthwise``, TF DeepLab's
    ``layer_N/depthwise_output``; layers without one give their output)."""

    stride: int = 8
    layer: TapLayer = "last"
    location: TapLocation = "block"


@dataclass(frozen=True)
class LRASPPSpec:
    """V3 §6.4 Fig. 10. TF DeepLab (``aspp_with_squeeze_and_excitation``, sum-merge decoder with
    logits) reads the 1/8 skip at the last 1/8 block's depthwise output (``layer_7/depthwise_output``
    on V3-Large), gates with a biased 1x1 conv and q-sigmoid (hard sigmoid) and resizes with
    ``align_corners``; torchvision reads the first 1/8 block's output, gates with an unbiased conv and
    sigmoid, resizes without. The paper's 49x49 pool (stride 16, 20) covers the whole 769x769
    training crop: we pool globally, which equals it there and works at any input size."""

    kind: Literal["lraspp"] = "lraspp"
    channels: int = 128
    """F, the filters of the head (V3 Table 7: 128 or 256)."""
    skip: Tap = field(default_factory=lambda: Tap(8, "last", "depthwise"))
    gate: str = "hsigmoid"
    gate_bias: bool = True
    align_corners: bool = True


@dataclass(frozen=True)
class DecoderSpec:
    """DeepLabV3+ decoder as TF DeepLab builds it on MobileNetV2 (``decoder_output_stride=4``):
    1x1 conv of the 1/4 map (``layer_4/depthwise_output``) to 48 channels, concatenated with the
    upsampled ASPP output, two 3x3 (separable) convs of 256."""

    skip: Tap = field(default_factory=lambda: Tap(4, "last", "depthwise"))
    skip_channels: int = 48
    channels: int = 256
    separable: bool = True


@dataclass(frozen=True)
class ASPPSpec:
    """Mobile DeepLabv3 (V2 §6.3, Table 7). ``rates`` () is R-ASPP (the bold row: 1x1 conv and image
    pooling); (6, 12, 18) is full ASPP, given for output stride 16 and doubled at 8. TF concatenates
    [pooling, 1x1, atrous...] and projects with dropout 0.1; torchvision's ``DeepLabHead`` concatenates
    [1x1, atrous..., pooling], drops 0.5 and adds a 3x3 conv (``refine``) before the classifier."""

    kind: Literal["deeplabv3"] = "deeplabv3"
    channels: int = 256
    rates: tuple[int, ...] = ()
    pool_first: bool = True
    dropout: float = 0.1
    refine: bool = False
    decoder: DecoderSpec | None = None
    align_corners: bool = True


@dataclass(frozen=True)
class AuxSpec:
    """torchvision's ``FCNHead`` on the first 1/8 block: 3x3 conv to a quarter of its channels, BN,
    ReLU, dropout, 1x1 classifier; trained with weight 0.5 (torchvision's references)."""

    tap: Tap = field(default_factory=lambda: Tap(8, "first", "block"))
    dropout: float = 0.1


HeadSpec = Union[LRASPPSpec, ASPPSpec]
HEADS: dict[str, type] = {"lraspp": LRASPPSpec, "deeplabv3": ASPPSpec}

# The torchvision readings (``segmentation/lraspp.py``, ``deeplabv3.py``): their checkpoints load exactly.
TORCHVISION_LRASPP = LRASPPSpec(skip=Tap(8, "first", "block"), gate="sigmoid", gate_bias=False, align_corners=False)
TORCHVISION_DEEPLABV3 = ASPPSpec(rates=(12, 24, 36), pool_first=False, dropout=0.5, refine=True, align_corners=False)
FULL_ASPP_RATES = (6, 12, 18)
"""V2 Table 7's ASPP at output stride 16 (12, 24, 36 at 8)."""


def _to_plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    return value


def head_to_dict(spec: HeadSpec) -> dict[str, Any]:
    """JSON-able form of a head spec (what a model config stores)."""
    return _to_plain(asdict(spec))


def _tap(data: Any, default: Tap) -> Tap:
    if data is None:
        return default
    if isinstance(data, Tap):
        return data
    tap = Tap(**data)
    if tap.layer not in ("first", "last") or tap.location not in ("block", "depthwise") or tap.stride not in (2, 4, 8, 16):
        raise ValueError(f"a tap is (stride 2/4/8/16, layer first/last, location block/depthwise), got {data!r}")
    return tap


def head_from_dict(data: Mapping[str, Any] | HeadSpec, base: HeadSpec) -> HeadSpec:
    """``base`` with the fields of ``data`` (a partial or full head dict) changed; a ValueError names
    unknown fields and the valid ones."""
    if isinstance(data, (LRASPPSpec, ASPPSpec)):
        return data
    values = dict(data)
    kind = values.pop("kind", base.kind)
    if kind != base.kind:
        raise ValueError(f"head kind {kind!r} does not fit this model (a {base.kind} model)")
    valid = {f.name for f in fields(base)} - {"kind"}
    unknown = sorted(set(values) - valid)
    if unknown:
        raise ValueError(f"unknown head option(s) {', '.join(unknown)} for a {kind} head; valid: {', '.join(sorted(valid))}")
    if "skip" in values:
        values["skip"] = _tap(values["skip"], getattr(base, "skip"))
    if "rates" in values:
        values["rates"] = tuple(int(r) for r in values["rates"])
    if "decoder" in values:
        decoder = values["decoder"]
        if decoder is True:
            decoder = DecoderSpec()
        elif isinstance(decoder, Mapping):
            decoder = DecoderSpec(**{**decoder, "skip": _tap(decoder.get("skip"), DecoderSpec().skip)})
        values["decoder"] = decoder or None
    spec = replace(base, **values)
    if spec.channels < 1:
        raise ValueError(f"head channels must be >= 1, got {spec.channels}")
    return spec


def aux_from_dict(data: Any) -> AuxSpec | None:
    """The auxiliary head of a config value: False/None/0 (none), True or a loss weight > 0 (torchvision's
    head; the weight is the trainer's ``aux_loss``), or a dict of its fields."""
    if not data:
        return None
    if data is True or isinstance(data, (int, float)):
        return AuxSpec()
    if isinstance(data, AuxSpec):
        return data
    return AuxSpec(_tap(data.get("tap"), AuxSpec().tap), float(data.get("dropout", 0.1)))
