"""Activation functions by name: the ones the MobileNet papers use.

hard-swish and hard-sigmoid are V3 paper §5.2; they are ``nn.Hardswish``/``nn.Hardsigmoid`` so
exporters and quantizers see one op, not a chain of small ones.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=True),
    "relu6": lambda: nn.ReLU6(inplace=True),
    "hswish": lambda: nn.Hardswish(inplace=True),
    "hsigmoid": lambda: nn.Hardsigmoid(inplace=True),
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,  # V4 Hybrid-L (timm's weights, exact erf form)
    "linear": nn.Identity,
}


def make_activation(name: str) -> nn.Module:
    """Build the activation module called ``name`` (one of ``ACTIVATIONS``)."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; valid: {', '.join(ACTIVATIONS)}") from None


class ShiftedReLU6(nn.Module):
    """``relu6(x + 3)``: six times hard-sigmoid (V3 paper §5.2, eq. for h-swish), as Add + Clip."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x + 3.0, 0.0, 6.0)


class ScaledHardSwish(nn.Module):
    """``x * relu6(x + 3)``: six times hard-swish, with the 1/6 left to the next linear layer.

    Written as Add, Clip and Mul, every step has an integer kernel in onnxruntime (the Clip folds
    into the Add's output range); ``HardSwish`` has none and runs in float between Q/DQ pairs.
    ``ramp`` is a module of its own so quantization-aware training can observe its output.
    """

    def __init__(self) -> None:
        super().__init__()
        self.ramp = ShiftedReLU6()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.ramp(x)
