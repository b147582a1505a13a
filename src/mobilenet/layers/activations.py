"""Activation functions by name: the ones the MobileNet papers use.

hard-swish and hard-sigmoid are V3 paper §5.2; they are ``nn.Hardswish``/``nn.Hardsigmoid`` so
exporters and quantizers see one op, not a chain of small ones.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=True),
    "relu6": lambda: nn.ReLU6(inplace=True),
    "hswish": lambda: nn.Hardswish(inplace=True),
    "hsigmoid": lambda: nn.Hardsigmoid(inplace=True),
    "sigmoid": nn.Sigmoid,
    "linear": nn.Identity,
}


def make_activation(name: str) -> nn.Module:
    """Build the activation module called ``name`` (one of ``ACTIVATIONS``)."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; valid: {', '.join(ACTIVATIONS)}") from None
