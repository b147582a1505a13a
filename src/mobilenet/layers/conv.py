"""The atom of every MobileNet: convolution, batch norm, activation (V1 paper §3.1, Fig. 3)."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from mobilenet.layers.activations import make_activation

PaddingMode = Literal["symmetric", "tf_same", "keras_v1"]
PADDING_MODES: tuple[str, ...] = ("symmetric", "tf_same", "keras_v1")
"""``keras_v1``: TF "SAME", except that strided depthwise convs pad a fixed (0, 1) on the bottom and
right as Keras Applications' MobileNet (V1) does with ZeroPadding2D; equal to "SAME" at even sizes."""


def tf_same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding along one axis: (before, after); the extra pixel goes after."""
    effective_kernel = (kernel - 1) * dilation + 1
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + effective_kernel - size, 0)
    return total // 2, total - total // 2


class TfSamePad(nn.Module):
    """Pads like TensorFlow "SAME" for strided convs, so TF-trained weights give TF's outputs.

    Only used where it differs from symmetric padding (stride > 1 or an even kernel); elsewhere the
    conv pads itself and no extra op is run.
    """

    def __init__(self, kernel: int, stride: int, dilation: int) -> None:
        super().__init__()
        self.kernel, self.stride, self.dilation = kernel, stride, dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = tf_same_padding(x.shape[-2], self.kernel, self.stride, self.dilation)
        left, right = tf_same_padding(x.shape[-1], self.kernel, self.stride, self.dilation)
        if top == bottom == left == right == 0:
            return x
        return F.pad(x, (left, right, top, bottom))

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}, dilation={self.dilation}"


def padding_amounts(size: int, kernel: int, stride: int, dilation: int, mode: str,
                    depthwise: bool = False) -> tuple[int, int]:
    """(before, after) padding along one axis that a ``ConvNormAct`` with ``mode`` applies."""
    if mode in ("tf_same", "keras_v1") and needs_tf_pad(kernel, stride):
        if mode == "keras_v1" and depthwise:
            return kernel // 2 - 1, kernel // 2
        return tf_same_padding(size, kernel, stride, dilation)
    return (kernel - 1) // 2 * dilation, (kernel - 1) // 2 * dilation


def needs_tf_pad(kernel: int, stride: int) -> bool:
    """Whether TF "SAME" differs from symmetric padding for this conv (stride > 1 or even kernel)."""
    return stride > 1 or kernel % 2 == 0


class ConvNormAct(nn.Module):
    """Conv2d (no bias) + BatchNorm2d + activation; named parts ``pad``, ``conv``, ``bn``, ``act``.

    ``groups == in_channels`` makes it the depthwise conv of V1 paper §3.1.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int = 3,
        stride: int = 1,
        groups: int = 1,
        dilation: int = 1,
        act: str = "relu",
        padding: PaddingMode = "symmetric",
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.1,
    ) -> None:
        super().__init__()
        if padding not in PADDING_MODES:
            raise ValueError(f"unknown padding {padding!r}; valid: {', '.join(PADDING_MODES)}")
        tf_pad = padding in ("tf_same", "keras_v1") and needs_tf_pad(kernel, stride)
        self.pad: nn.Module = TfSamePad(kernel, stride, dilation) if tf_pad else nn.Identity()
        if tf_pad and padding == "keras_v1" and groups > 1 and groups == in_channels:
            self.pad = nn.ZeroPad2d((kernel // 2 - 1, kernel // 2, kernel // 2 - 1, kernel // 2))
        conv_padding = 0 if tf_pad else (kernel - 1) // 2 * dilation
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel,
            stride=stride,
            padding=conv_padding,
            dilation=dilation,
            groups=groups,
            bias=False,
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=bn_eps, momentum=bn_momentum)
        self.act = make_activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(self.pad(x))))
