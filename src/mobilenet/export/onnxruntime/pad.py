"""Pad each inverted residual's expansion width to a multiple of the int8 kernels' vector width.

onnxruntime's fast int8 depthwise kernel on x86 (MLAS "ConvSym", AVX2/AVX-512/VNNI) takes a
depthwise conv only when its channel count is a multiple of 16; any other count falls back to a
generic kernel that is several times slower. MobileNetV2's expansion widths are all multiples of
16, MobileNetV3's are not (72, 88, 120, 184, 200 ...; V3 paper Tables 1-2), which is most of why
V3 gained nothing from INT8. Padding the expansion with zero channels changes no output:

- the expand conv's extra filters are zero with zero bias, and every MobileNet activation maps 0 to 0;
- the depthwise conv's extra filters are zero, so the padded channels stay 0;
- SE pools 0 there, and its gate multiplies that 0; its reduce conv gets zero input weights;
- the projection gets zero weights for the padded inputs.

The cost is the padded channels' arithmetic (72 -> 80 is 11% more in that block).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from mobilenet.blocks.inverted_residual import InvertedResidual
from mobilenet.blocks.squeeze_excite import SqueezeExcite
from mobilenet.layers.conv import ConvNormAct

INT8_DEPTHWISE_MULTIPLE = 16  # MLAS ConvSym depthwise group alignment on x86


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _grown_conv(conv: nn.Conv2d, in_channels: int, out_channels: int, groups: int) -> nn.Conv2d:
    """A copy of ``conv`` with more input/output channels; the new weights and biases are zero."""
    grown = nn.Conv2d(in_channels, out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                      groups, bias=True, padding_mode=conv.padding_mode)
    with torch.no_grad():
        grown.weight.zero_()
        grown.bias.zero_()
        grown.weight[:conv.out_channels, :conv.weight.shape[1]] = conv.weight
        if conv.bias is not None:
            grown.bias[:conv.out_channels] = conv.bias
    return grown.to(conv.weight.dtype).requires_grad_(conv.weight.requires_grad)


def _maps_zero_to_zero(act: nn.Module) -> bool:
    with torch.no_grad():
        return bool(act(torch.zeros(1)).eq(0).all())


def _check_folded(layer: ConvNormAct, where: str) -> None:
    if not isinstance(layer.bn, nn.Identity):
        raise ValueError(f"{where} still has batch norm; fold it first (mobilenet.export.fuse.fold_batch_norm)")


def pad_block(block: InvertedResidual, multiple: int, where: str = "block") -> bool:
    """Pad ``block``'s expansion width in place; False when there is nothing to pad or it cannot be.

    A block without an expand conv (expansion 1) has its depthwise width fixed by the previous
    block's output and the residual, so it is left alone.
    """
    if not isinstance(block.expand, ConvNormAct):
        return False
    width = block.depthwise.conv.out_channels
    padded = round_up(width, multiple)
    if padded == width:
        return False
    for name in ("expand", "depthwise", "project"):
        _check_folded(getattr(block, name), f"{where}.{name}")
    if not (_maps_zero_to_zero(block.expand.act) and _maps_zero_to_zero(block.depthwise.act)):
        return False
    block.expand.conv = _grown_conv(block.expand.conv, block.expand.conv.in_channels, padded, 1)
    block.depthwise.conv = _grown_conv(block.depthwise.conv, padded, padded, padded)
    if isinstance(block.se, SqueezeExcite):
        block.se.reduce = _grown_conv(block.se.reduce, padded, block.se.reduce.out_channels, 1)
        block.se.expand = _grown_conv(block.se.expand, block.se.expand.in_channels, padded, 1)
    block.project.conv = _grown_conv(block.project.conv, padded, block.project.conv.out_channels, 1)
    return True


def tapped_blocks(model: nn.Module) -> set[str]:
    """Blocks whose expansion or depthwise output a ``features_only`` backbone of ``model`` returns
    (a segmentation head reads them): their widths and scales must stay as they are."""
    from mobilenet.models.mobilenet import MobileNet

    return {f"{name}.{tap.module}".lstrip(".") for name, module in model.named_modules()
            if isinstance(module, MobileNet) and module.features_only
            for tap in module.feature_info() if tap.location != "block"}


def pad_expansions(model: nn.Module, multiple: int = INT8_DEPTHWISE_MULTIPLE) -> tuple[nn.Module, int]:
    """A copy of the BN-folded ``model`` with every expansion width padded to ``multiple`` (but the
    ``tapped_blocks``').

    Returns the copy and how many blocks were padded. Outputs are unchanged (zero channels).
    """
    if multiple < 1:
        raise ValueError(f"multiple must be positive, got {multiple}")
    padded = copy.deepcopy(model)
    tapped = tapped_blocks(padded)
    count = sum(pad_block(module, multiple, name) for name, module in padded.named_modules()
                if isinstance(module, InvertedResidual) and name not in tapped)
    return padded, count
