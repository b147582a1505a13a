"""How hard-swish is written before a model is quantized for LiteRT (V3 paper §5.2: ``x * relu6(x + 3) / 6``).

LiteRT's converter turns a PT2E ``dequantize -> hardswish -> quantize`` into an int8 ``HARD_SWISH``,
which XNNPACK's delegate has no kernel for: an INT8 MobileNetV3 then runs as about 20 XNNPACK
partitions with LiteRT's reference int8 hard-swish between them. Two other spellings keep the whole
graph in one partition:

- ``float``: ``x * relu6(x + 3) / 6`` left unquantized (the quantizer skips the module), so the
  graph holds DEQUANTIZE, float ADD/MUL, QUANTIZE, all of which XNNPACK delegates;
- ``int8``: the same ops quantized (an int8 ADD with its ReLU6 fused, two int8 MULs).

``native`` keeps ``nn.Hardswish`` (the converter's int8 HARD_SWISH). Which is fastest is measured
by ``bench/edge.py``; ``DEFAULT_HARD_SWISH`` is its answer.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

HARD_SWISH_FORMS = ("float", "int8", "native")
DEFAULT_HARD_SWISH = "float"


class FloatHardSwish(nn.Module):
    """hard-swish as ADD, clamp and MUL ops, kept in float by the quantizer (``skipped_modules``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.clamp(x + 3.0, 0.0, 6.0) / 6.0


class Int8HardSwish(nn.Module):
    """hard-swish as ADD (with ReLU6), MUL by 1/6 and MUL ops that the quantizer quantizes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * (torch.clamp(x + 3.0, 0.0, 6.0) * (1.0 / 6.0))


_MODULES = {"float": FloatHardSwish, "int8": Int8HardSwish}


def with_hard_swish(model: nn.Module, form: str) -> nn.Module:
    """A copy of ``model`` with every ``nn.Hardswish`` written in ``form`` (the model itself for ``native``)."""
    if form not in HARD_SWISH_FORMS:
        raise ValueError(f"unknown hard-swish form {form!r}; valid: {', '.join(HARD_SWISH_FORMS)}")
    if form == "native" or not any(isinstance(m, nn.Hardswish) for m in model.modules()):
        return model
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.Hardswish):
                setattr(parent, name, _MODULES[form]())
    return model


def skipped_modules(form: str) -> tuple[type[nn.Module], ...]:
    """Module types the quantizer must leave in float for ``form``."""
    return (FloatHardSwish,) if form == "float" else ()
