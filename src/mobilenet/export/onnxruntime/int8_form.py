"""The form of a MobileNet that INT8 runtimes run fast: same outputs, integer-friendly layers.

Starting from the inference form (BN folded, ``fuse.fold_batch_norm``):

1. expansion widths padded with zero channels to a multiple of 16 (``pad.pad_expansions``), which
   onnxruntime's fast int8 depthwise kernel needs;
2. every hard-swish after a quantized conv becomes ``x * relu6(x + 3)`` (``ScaledHardSwish``) and
   every SE hard-sigmoid gate a ReLU6 with 3 added to the bias of the conv before it. Both are then
   integer ops (Add, Mul, and a Clip that folds into the conv or the Add), where ``HardSwish`` and
   ``HardSigmoid`` have no int8 kernel and run in float between dequantize and quantize;
3. the factor 1/6 these forms leave out is folded into the weights of the next linear layer
   (V3 paper §5.2 defines h-swish as ``x * ReLU6(x + 3) / 6``), so no extra op is needed.

The stem keeps ``nn.Hardswish``: its conv stays in float (``quantize.stem_conv``), where
onnxruntime fuses the activation into the conv.
"""

from __future__ import annotations

import torch
from torch import nn

from mobilenet.blocks.inverted_residual import InvertedResidual
from mobilenet.blocks.squeeze_excite import SqueezeExcite
from mobilenet.export.fuse import fold_batch_norm
from mobilenet.export.onnxruntime.pad import INT8_DEPTHWISE_MULTIPLE, pad_expansions, tapped_blocks
from mobilenet.layers.activations import ScaledHardSwish
from mobilenet.layers.conv import ConvNormAct

HARD_SWISH_SCALE = 6.0  # ScaledHardSwish = 6 * hard-swish; ReLU6(z + 3) = 6 * hard-sigmoid(z)


def _scale_weight(layer: nn.Module, factor: float) -> None:
    """Multiply a conv's or linear layer's weight (not its bias) by ``factor``: it then undoes an input scale."""
    with torch.no_grad():
        layer.weight.mul_(factor)


def _scaled_activation(unit: nn.Module) -> float:
    """Swap a ``ConvNormAct``'s hard-swish for ``ScaledHardSwish``; the factor its output grew by (1 if unchanged)."""
    if isinstance(unit, ConvNormAct) and isinstance(unit.act, nn.Hardswish):
        unit.act = ScaledHardSwish()
        return HARD_SWISH_SCALE
    return 1.0


def _rewrite_gate(se: SqueezeExcite) -> float:
    """``hardsigmoid(z)`` -> ``relu6(z + 3)`` with the 3 in the expand conv's bias; the factor the gate grew by."""
    if not isinstance(se.gate, nn.Hardsigmoid):
        return 1.0
    with torch.no_grad():
        se.expand.bias.add_(3.0)
    se.gate = nn.ReLU6()
    return HARD_SWISH_SCALE


def _rewrite_block(block: InvertedResidual) -> None:
    _scale_weight(block.depthwise.conv, 1.0 / _scaled_activation(block.expand))
    scale = _scaled_activation(block.depthwise)
    if isinstance(block.se, SqueezeExcite):
        _scale_weight(block.se.reduce, 1.0 / scale)  # the pool is linear: it passes the scale through
        scale *= _rewrite_gate(block.se)
    _scale_weight(block.project.conv, 1.0 / scale)  # projection is linear (V2 §3.2): output as before


def _rewrite_head(model: nn.Module) -> None:
    """Last conv -> pool -> head -> act -> classifier (V3 §5.1): each scaled act's next layer absorbs 1/6."""
    head_conv, classifier = getattr(model, "head_conv", None), getattr(model, "classifier", None)
    last_conv = getattr(model, "last_conv", None)
    if isinstance(last_conv, ConvNormAct) and isinstance(last_conv.act, nn.Hardswish):
        after_pool = head_conv if isinstance(head_conv, nn.Linear) else classifier
        if isinstance(after_pool, nn.Linear):
            _scale_weight(after_pool, 1.0 / _scaled_activation(last_conv))
    if isinstance(getattr(model, "head_act", None), nn.Hardswish) and isinstance(classifier, nn.Linear):
        model.head_act = ScaledHardSwish()
        _scale_weight(classifier, 1.0 / HARD_SWISH_SCALE)


def int8_form(model: nn.Module, multiple: int = INT8_DEPTHWISE_MULTIPLE) -> nn.Module:
    """A copy of ``model`` (eval mode) for INT8 export: BN folded, widths padded, integer-friendly activations.

    Outputs equal the original's up to float rounding (checked by ``check_int8_form`` and the tests).
    """
    form, _ = pad_expansions(fold_batch_norm(model), multiple)
    tapped = tapped_blocks(form)  # a task head reads their inner maps: left as they are
    for name, module in form.named_modules():
        if isinstance(module, InvertedResidual) and name not in tapped:
            _rewrite_block(module)
    _rewrite_head(form)
    return form.eval()


def check_int8_form(original: nn.Module, form: nn.Module, resolution: int, tolerance: float = 1e-4) -> float:
    """Max abs difference of the two on a random batch; ``ValueError`` above ``tolerance`` times the
    largest logit (when that exceeds 1): float32 rounding grows with the values it rounds."""
    x = torch.randn(2, getattr(original, "in_chans", 3), resolution, resolution,
                    generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, got = original.eval()(x), form.eval()(x)
    pairs = list(zip(expected, got)) if isinstance(expected, (tuple, list)) else [(expected, got)]  # task forms
    diff = max(float((b.float() - a.float()).abs().max()) for a, b in pairs)
    limit = tolerance * max([1.0] + [float(a.float().abs().max()) for a, _ in pairs])
    if not diff <= limit:
        raise ValueError(f"the INT8 form differs from the model by {diff:.2e} (> {limit:.1e}); "
                         "this is a bug, please report it with the model name")
    return diff
