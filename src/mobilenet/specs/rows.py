"""The vocabulary of architecture specs: one dataclass per kind of row in the papers' tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Union

ChannelRule = Literal["truncate", "divisible"]
ExpansionRule = Literal["factor_of_input", "scaled_channels"]
WideLayerRule = Literal["scaled", "keep_below_1", "fixed"]
DilationRule = Literal["tf", "torchvision"]


@dataclass(frozen=True)
class Conv:
    """A plain conv + BN + activation row (the stem, the last 1x1 conv, V4-Conv-S's early layers)."""

    out: int
    kernel: int = 3
    stride: int = 1
    act: str = "relu6"
    repeats: int = 1


@dataclass(frozen=True)
class Separable:
    """A V1 row pair "Conv dw / s" + "Conv 1x1" (V1 Table 1); ``repeats`` for the "5x" row."""

    out: int
    stride: int = 1
    kernel: int = 3
    act: str = "relu6"
    repeats: int = 1


@dataclass(frozen=True)
class Bottleneck:
    """An inverted residual row (V2 Table 2: t, c, n, s; V3 Tables 1-2: exp size, #out, SE, NL, s).

    Give the expansion either as ``expansion`` (V2's t, a factor of the input channels) or as
    ``expanded`` (V3's "exp size", channels at width 1.0). ``repeats`` is V2's n: the first
    repeat has the row's stride, the others stride 1.
    """

    out: int
    kernel: int = 3
    stride: int = 1
    expansion: float | None = None
    expanded: int | None = None
    se: bool = False
    act: str = "relu6"
    repeats: int = 1

    def __post_init__(self) -> None:
        if (self.expansion is None) == (self.expanded is None):
            raise ValueError("a Bottleneck row needs exactly one of `expansion` and `expanded`")


@dataclass(frozen=True)
class UniversalBottleneck:
    """A V4 Universal Inverted Bottleneck row (V4 paper §3.2): (start dw, middle dw, s, c, e).

    ``start_kernel``/``middle_kernel`` of 0 mean that depthwise conv is absent, giving the four
    variants: IB (middle only, V2's block), ConvNext-like (start only), ExtraDW (both) and FFN
    (neither). The stride goes to the middle dw when there is one, else to the start dw. The
    expansion is a factor of the input channels, rounded with ``make_divisible``.
    """

    out: int
    start_kernel: int = 0
    middle_kernel: int = 3
    stride: int = 1
    expansion: float = 4.0
    act: str = "relu"
    repeats: int = 1

    def __post_init__(self) -> None:
        if self.stride > 1 and not (self.start_kernel or self.middle_kernel):
            raise ValueError("a strided UniversalBottleneck needs a start or middle depthwise conv")


@dataclass(frozen=True)
class FusedBottleneck:
    """V4's FusedIB (V4 paper §3.2; EfficientNet-EdgeTPU's fused block): a full k x k expansion
    conv with the stride, then a linear 1x1 projection."""

    out: int
    kernel: int = 3
    stride: int = 1
    expansion: float = 4.0
    act: str = "relu"
    repeats: int = 1


@dataclass(frozen=True)
class MobileAttention:
    """A V4 Hybrid Mobile MQA row (V4 paper §3.3; timm ``mqa_k{kernel}_h{heads}_v{kv_stride}_d{key_dim}``).

    ``heads`` query heads share one key and one value of ``key_dim``; ``kv_stride`` > 1 computes
    keys and values on a map downsampled by a ``kernel`` x ``kernel`` strided depthwise conv.
    """

    out: int
    heads: int = 4
    key_dim: int = 64
    kv_stride: int = 1
    kernel: int = 3
    stride: int = 1
    act: str = "linear"
    repeats: int = 1

    def __post_init__(self) -> None:
        if self.stride != 1:
            raise ValueError("a MobileAttention row keeps the resolution (stride 1)")


Row = Union[Separable, Bottleneck, Conv, UniversalBottleneck, FusedBottleneck, MobileAttention]


@dataclass(frozen=True)
class MobileNetSpec:
    """One MobileNet at width 1.0: the paper's table as rows, plus the per-model scaling rules.

    Rules that differ between models are named fields, each tested, never ``if name == ...``.
    """

    name: str
    paper: str
    stem: Conv
    body: tuple[Row, ...]
    last_conv: Conv | None = None
    """1x1 conv + BN before pooling (V2's 1280, V3's 960/576); V1 has none."""
    head_channels: int | None = None
    """V3 §5.1: the 1x1 conv without BN moved after pooling (1280/1024); None: linear classifier."""
    head_act: str = "hswish"
    head_norm: bool = False
    """V4: the head conv has BN (and no bias); V3's has neither ("NBN")."""
    layer_scale: float | None = None
    """V4 Hybrid: initial value of a per-channel scale on each UIB/attention branch (None: none)."""
    channel_rule: ChannelRule = "divisible"
    divisor: int = 8
    min_channels: int = 8
    expansion_rule: ExpansionRule = "factor_of_input"
    stem_rule: WideLayerRule = "scaled"
    """"fixed": Keras's V3 (any width) and timm's V3 below 0.75 keep the stem at 16 channels."""
    last_conv_rule: WideLayerRule = "scaled"
    head_rule: WideLayerRule = "scaled"
    se_ratio: float = 0.25
    dilation_rule: DilationRule = "tf"
    """Below output stride 32: "tf" (TF-slim, DeepLab) keeps the current rate in the layer whose stride is
    dropped and dilates the layers after it; "torchvision" (``dilated=True``) dilates that layer too."""
    resolution: int = 224
    dropout: float = 0.2
    bn_eps: float = 1e-5
    bn_momentum: float = 0.1
    notes: tuple[str, ...] = field(default=())
