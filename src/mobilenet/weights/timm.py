"""timm's ``mobilenetv1_*``, ``mobilenetv2_*``, ``mobilenetv3_*``, ``tf_mobilenetv3_*`` and ``mobilenetv4_conv_*`` files.

timm groups blocks into stages (``blocks.{stage}.{index}``); the stages differ from the papers'
rows, so our i-th block is timm's i-th block in (stage, index) order, read from the file. Block
types: depthwise separable (``conv_dw``, ``bn1``, [``se``], ``conv_pw``, ``bn2``), inverted
residual (``conv_pw``, ``bn1``, ``conv_dw``, ``bn2``, [``se``], ``conv_pwl``, ``bn3``), and V3's
final ``ConvBnAct`` (``conv``, ``bn1``). V2 keeps the last conv as ``conv_head``/``bn2``; V3's
``conv_head`` is the 1x1 conv after pooling (our ``head_conv``). V4: ``ConvBnAct`` rows (``conv``,
``bn1``), FusedIB (``conv_exp``, ``bn1``, ``conv_pwl``, ``bn2``), UIB (``dw_start``, ``pw_exp``, ``dw_mid``,
``pw_proj``, each a ``conv`` + ``bn``), and a head conv without bias followed by ``norm_head``.
"""

from __future__ import annotations

import re
from typing import Mapping

import torch
from torch import nn

from mobilenet.blocks import DepthwiseSeparable, FusedBottleneck, InvertedResidual, MobileAttention, UniversalBottleneck
from mobilenet.layers.conv import ConvNormAct
from mobilenet.weights.mapping import Unit, conv_bn, load_mapped

MARKER = "conv_stem.weight"
_BLOCK = re.compile(r"^blocks\.(\d+)\.(\d+)\.")


def source_blocks(keys: list[str]) -> list[str]:
    """timm's block prefixes (``blocks.2.1``) in network order."""
    pairs = {(int(m.group(1)), int(m.group(2))) for k in keys if (m := _BLOCK.match(k))}
    return [f"blocks.{s}.{i}" for s, i in sorted(pairs)]


def _se(target: str, base: str) -> list[Unit]:
    return [Unit(f"{target}.se.reduce", f"{base}.se.conv_reduce", "conv_bias"),
            Unit(f"{target}.se.expand", f"{base}.se.conv_expand", "conv_bias")]


def _layer_scale(target: str, base: str, block: nn.Module) -> list[Unit]:
    return [] if isinstance(block.scale, nn.Identity) else [Unit(f"{target}.scale", f"{base}.layer_scale", "layer_scale")]


def _attention_units(target: str, base: str, block: MobileAttention) -> list[Unit]:
    """timm's ``MobileAttention``: ``norm``, then ``attn.{query,key,value,output}`` sequentials."""
    units = [Unit(f"{target}.norm", f"{base}.norm", "bn"), Unit(f"{target}.query", f"{base}.attn.query.proj", "conv")]
    for part in ("key", "value"):
        if not isinstance(getattr(block, f"{part}_down"), nn.Identity):
            units += conv_bn(f"{target}.{part}_down", f"{base}.attn.{part}.down_conv", f"{base}.attn.{part}.norm",
                             depthwise=True)
        units.append(Unit(f"{target}.{part}", f"{base}.attn.{part}.proj", "conv"))
    units.append(Unit(f"{target}.output", f"{base}.attn.output.proj", "conv"))
    return units + _layer_scale(target, base, block)


def _block_units(target: str, base: str, block: nn.Module, keys: set[str]) -> list[Unit]:
    if isinstance(block, DepthwiseSeparable):
        return (conv_bn(f"{target}.depthwise", f"{base}.conv_dw", f"{base}.bn1", depthwise=True)
                + conv_bn(f"{target}.pointwise", f"{base}.conv_pw", f"{base}.bn2"))
    if isinstance(block, ConvNormAct):
        return conv_bn(target, f"{base}.conv", f"{base}.bn1")
    if isinstance(block, FusedBottleneck):
        return conv_bn(f"{target}.expand", f"{base}.conv_exp", f"{base}.bn1") + conv_bn(
            f"{target}.project", f"{base}.conv_pwl", f"{base}.bn2")
    if isinstance(block, UniversalBottleneck):
        units = []
        for ours, theirs, present in (("start", "dw_start", not isinstance(block.start, nn.Identity)),
                                      ("expand", "pw_exp", True),
                                      ("middle", "dw_mid", not isinstance(block.middle, nn.Identity)),
                                      ("project", "pw_proj", True)):
            if present:
                units += conv_bn(f"{target}.{ours}", f"{base}.{theirs}.conv", f"{base}.{theirs}.bn",
                                 depthwise=theirs.startswith("dw"))
        return units + _layer_scale(target, base, block)
    if isinstance(block, MobileAttention):
        return _attention_units(target, base, block)
    assert isinstance(block, InvertedResidual)
    has_se = not isinstance(block.se, nn.Identity)
    if f"{base}.conv_pwl.weight" not in keys:  # timm's separable block = our block without expand
        units = conv_bn(f"{target}.depthwise", f"{base}.conv_dw", f"{base}.bn1", depthwise=True)
        units += _se(target, base) if has_se else []
        return units + conv_bn(f"{target}.project", f"{base}.conv_pw", f"{base}.bn2")
    units = conv_bn(f"{target}.expand", f"{base}.conv_pw", f"{base}.bn1")
    units += conv_bn(f"{target}.depthwise", f"{base}.conv_dw", f"{base}.bn2", depthwise=True)
    units += _se(target, base) if has_se else []
    return units + conv_bn(f"{target}.project", f"{base}.conv_pwl", f"{base}.bn3")


def key_map(model: nn.Module, keys: list[str]) -> list[Unit]:
    """Our modules and the timm file's names for them (block order taken from ``keys``)."""
    blocks = source_blocks(keys)
    key_set = set(keys)
    n = len(model.blocks)
    has_last = not isinstance(model.last_conv, nn.Identity)
    if len(blocks) not in (n, n + 1) or (len(blocks) == n + 1 and not has_last):
        raise ValueError(f"the timm file has {len(blocks)} blocks but {model.model_name} has {n} (plus a last "
                         "conv for V2/V3); choose the model that matches the file (e.g. mobilenetv3_large_100 -> "
                         "mobilenet_v3_large)")
    units = conv_bn("stem", "conv_stem", "bn1")
    for i, block in enumerate(model.blocks):
        units += _block_units(f"blocks.{i}", blocks[i], block, key_set)
    if len(blocks) == n + 1:  # V3: the last conv is timm's final ConvBnAct stage
        units += conv_bn("last_conv", f"{blocks[n]}.conv", f"{blocks[n]}.bn1")
    elif has_last:             # V2: conv_head + bn2
        units += conv_bn("last_conv", "conv_head", "bn2")
    if not isinstance(model.head_conv, nn.Identity):
        biased = model.head_conv.bias is not None
        units.append(Unit("head_conv", "conv_head", "conv_as_linear" if biased else "conv_as_linear_no_bias"))
    if not isinstance(model.head_norm, nn.Identity):  # V4
        units.append(Unit("head_norm", "norm_head", "bn"))
    units.append(Unit("classifier", "classifier", "linear"))
    return units


def load(model: nn.Module, state_dict: Mapping[str, torch.Tensor], origin: str) -> None:
    """Fill ``model`` from a timm MobileNet state dict (strict, all or nothing)."""
    load_mapped(model, state_dict, key_map(model, list(state_dict)), "torch", f"timm weights {origin}")
