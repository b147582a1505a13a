"""The inference form of a MobileNet: batch norm folded into the preceding convolution.

At inference BN is an affine map per channel, so ``bn(conv(x)) = conv'(x)`` with
``w' = w * gamma / sqrt(var + eps)`` and a bias (V1 paper §3: "batchnorm ... folded").
hard-swish and hard-sigmoid stay ``nn.Hardswish``/``nn.Hardsigmoid`` modules, so exporters emit one
op each and quantizers see them. The model classes are not changed: folding replaces ``bn`` with
``nn.Identity`` in a copy, so the module tree and state-dict names of the convs stay the same.
"""

from __future__ import annotations

import copy
from typing import Iterable

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

from mobilenet.blocks.attention import MobileAttention
from mobilenet.layers.conv import ConvNormAct


def fold_batch_norm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode with every ``ConvNormAct``'s BN folded into its conv
    (V4's head BN into the head's linear layer, its attention pre-norm into a 1x1 depthwise conv)."""
    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        if isinstance(module, ConvNormAct) and isinstance(module.bn, nn.BatchNorm2d):
            module.conv = fuse_conv_bn_eval(module.conv, module.bn)
            module.bn = nn.Identity()
    for module in folded.modules():
        if isinstance(module, MobileAttention) and isinstance(module.norm, nn.BatchNorm2d):
            module.norm = batch_norm_as_conv(module.norm)
    head_conv, head_norm = getattr(folded, "head_conv", None), getattr(folded, "head_norm", None)
    if isinstance(head_conv, nn.Linear) and isinstance(head_norm, nn.BatchNorm1d):
        folded.head_conv = fuse_linear_bn_eval(head_conv, head_norm)
        folded.head_norm = nn.Identity()
    return folded


def batch_norm_as_conv(norm: nn.BatchNorm2d) -> nn.Conv2d:
    """An eval-mode BN that no conv precedes (V4's attention pre-norm) as the 1x1 depthwise conv it equals.

    It cannot fold into the key/value convs after it: those pad their input with zeros, and a BN
    shift applied before padding differs at the borders from one applied after.
    """
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    conv = nn.Conv2d(norm.num_features, norm.num_features, 1, groups=norm.num_features, bias=True)
    with torch.no_grad():
        conv.weight.copy_(scale.view(-1, 1, 1, 1))
        conv.bias.copy_(norm.bias - norm.running_mean * scale)
    return conv.to(norm.weight.dtype)


def count_batch_norms(model: nn.Module) -> int:
    """How many BatchNorm layers are left (0 after ``fold_batch_norm`` on a MobileNet)."""
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def inference_form(model: nn.Module, channels_last: bool = True) -> nn.Module:
    """BN folded, eval mode, no gradients, weights in channels-last memory order when asked.

    Channels-last lets oneDNN run the convs without reordering the activations between layers;
    inputs should then be channels-last too (``x.contiguous(memory_format=torch.channels_last)``).
    """
    folded = fold_batch_norm(model)
    for parameter in folded.parameters():
        parameter.requires_grad_(False)
    if channels_last:
        folded = folded.to(memory_format=torch.channels_last)
    return folded


def max_abs_diff(a: nn.Module, b: nn.Module, x: torch.Tensor) -> float:
    """Largest absolute difference of the two models' outputs on ``x`` (both in eval mode)."""
    with torch.no_grad():
        return float((a.eval()(x) - b.eval()(x)).abs().max())


def recalibrate_batch_norm(model: nn.Module, batches: Iterable[torch.Tensor]) -> nn.Module:
    """Recompute every BN's running mean/variance as the plain average over ``batches``.

    Folding bakes the running statistics into the convs, so they must describe the data. After a
    short run with a small BN momentum (V3 uses 0.01) they still lag the weights; one pass over
    training images in train mode, without gradients, fixes that. Returns ``model`` in eval mode.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative moving average: every batch counts equally
    model.train()
    with torch.no_grad():
        for x in batches:
            model(x)
    for norm, momentum in zip(norms, saved):
        norm.momentum = momentum
    return model.eval()
