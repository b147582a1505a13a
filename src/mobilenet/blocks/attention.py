"""MobileNetV4's Mobile MQA block (V4 paper §3.3): multi-query attention for mobile accelerators.

All heads share one key and one value projection (multi-query attention), and keys and values
can be computed on a map downsampled by a strided depthwise conv ("spatial reduction"), which
the paper reports as 39% faster than multi-head self-attention. The block is
pre-norm (BN), residual, with a layer scale on the branch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mobilenet.layers.conv import ConvNormAct
from mobilenet.layers.layer_scale import make_layer_scale


class AttentionProduct(nn.Module):
    """``softmax(q k^T / sqrt(d)) v`` for q ``(B, heads, N, d)`` and one shared k, v ``(B, 1, M, d)``.

    A module of its own so that the cost hook counter sees its multiply-adds.
    """

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5, dim=-1)
        return weights @ v


class MobileAttention(nn.Module):
    """BN, multi-query attention (``heads`` query heads, one key/value of ``key_dim``), output 1x1.

    Parts: ``norm``, ``query``, ``key_down``/``value_down`` (strided depthwise conv + BN, or
    ``nn.Identity`` when ``kv_stride`` is 1), ``key``, ``value``, ``attend``, ``output``, ``scale``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        heads: int = 4,
        key_dim: int = 64,
        kv_stride: int = 1,
        kernel: int = 3,
        dilation: int = 1,
        layer_scale: float | None = None,
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.1,
        **conv_options: Any,
    ) -> None:
        super().__init__()
        if heads < 1 or key_dim < 1 or kv_stride < 1:
            raise ValueError(f"heads, key_dim and kv_stride must be >= 1, got {heads}, {key_dim}, {kv_stride}")
        self.heads, self.key_dim = heads, key_dim
        options = {"bn_eps": bn_eps, "bn_momentum": bn_momentum, **conv_options}
        self.norm = nn.BatchNorm2d(in_channels, eps=bn_eps, momentum=bn_momentum)
        self.query = nn.Conv2d(in_channels, heads * key_dim, 1, bias=False)
        self.key_down = self._downsample(in_channels, kernel, kv_stride, dilation, options)
        self.key = nn.Conv2d(in_channels, key_dim, 1, bias=False)
        self.value_down = self._downsample(in_channels, kernel, kv_stride, dilation, options)
        self.value = nn.Conv2d(in_channels, key_dim, 1, bias=False)
        self.attend = AttentionProduct()
        self.output = nn.Conv2d(heads * key_dim, out_channels, 1, bias=False)
        self.scale = make_layer_scale(out_channels, layer_scale)
        self.use_residual = in_channels == out_channels

    @staticmethod
    def _downsample(channels: int, kernel: int, stride: int, dilation: int, options: dict[str, Any]) -> nn.Module:
        """The strided depthwise conv + BN that shrinks the key/value map (V4 §3.3), or nothing."""
        if stride == 1:
            return nn.Identity()
        return ConvNormAct(channels, channels, kernel, stride, groups=channels, dilation=dilation, act="linear",
                           **options)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        normed = self.norm(x)
        # queries: channels are head-major (head, key_dim), as in the reference code
        q = self.query(normed).reshape(batch, self.heads, self.key_dim, -1).transpose(-1, -2)
        k = self.key(self.key_down(normed)).flatten(2).transpose(1, 2).unsqueeze(1)
        v = self.value(self.value_down(normed)).flatten(2).transpose(1, 2).unsqueeze(1)
        out = self.attend(q, k, v)                                   # (B, heads, N, key_dim)
        out = out.transpose(1, 2).reshape(batch, height, width, -1).permute(0, 3, 1, 2)
        out = self.scale(self.output(out))
        return out + x if self.use_residual else out
