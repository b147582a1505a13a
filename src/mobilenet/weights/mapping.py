"""Strict loading through an explicit key map: every source tensor used once, every target filled.

A converter lists ``Unit``s: one of our modules (``blocks.3.depthwise.conv``), the source's name for
the same layer, and the kind of layer. ``load_mapped`` expands the units into tensor pairs, checks
that the map covers the source and the model exactly and that every shape agrees, and only then
copies the weights, so a failed load never leaves a half-loaded model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Mapping

import torch
from torch import nn


UnitKind = Literal["conv", "dwconv", "conv_bias", "bn", "linear", "linear_no_bias", "conv_as_linear",
                   "conv_as_linear_no_bias", "layer_scale"]
Layout = Literal["torch", "keras"]

# The tensors of each kind of layer, by our parameter name and the source's, per layout.
_TORCH_NAMES: dict[str, tuple[tuple[str, str], ...]] = {
    "conv": (("weight", "weight"),),
    "dwconv": (("weight", "weight"),),
    "conv_bias": (("weight", "weight"), ("bias", "bias")),
    "bn": (("weight", "weight"), ("bias", "bias"), ("running_mean", "running_mean"),
           ("running_var", "running_var")),
    "linear": (("weight", "weight"), ("bias", "bias")),
    "linear_no_bias": (("weight", "weight"),),
    "conv_as_linear": (("weight", "weight"), ("bias", "bias")),
    "conv_as_linear_no_bias": (("weight", "weight"),),  # V4's head: BN follows instead of a bias
    "layer_scale": (("gamma", "gamma"),),
}
_KERAS_NAMES: dict[str, tuple[tuple[str, str], ...]] = {
    "conv": (("weight", "kernel"),),
    "dwconv": (("weight", "kernel"),),  # the readers rename Keras 2's "depthwise_kernel" to "kernel"
    "conv_bias": (("weight", "kernel"), ("bias", "bias")),
    "bn": (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
           ("running_var", "moving_variance")),
    "linear": (("weight", "kernel"), ("bias", "bias")),
    "linear_no_bias": (("weight", "kernel"),),
    "conv_as_linear": (("weight", "kernel"), ("bias", "bias")),
    "conv_as_linear_no_bias": (("weight", "kernel"),),
    "layer_scale": (("gamma", "gamma"),),
}


def _identity(tensor: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return tensor


def _squeeze_1x1(tensor: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # A 1x1 conv on pooled features is a Linear: (out, in, 1, 1) -> (out, in).
    return tensor.reshape(tensor.shape[0], -1) if tensor.dim() == 4 else tensor


def _keras_kernel(tensor: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return tensor.permute(3, 2, 0, 1) if tensor.dim() == 4 else tensor  # (H, W, in, out) -> (out, in, H, W)


def _keras_depthwise(tensor: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return tensor.permute(2, 3, 0, 1) if tensor.dim() == 4 else tensor  # (H, W, C, 1) -> (C, 1, H, W)


def _keras_dense(tensor: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if tensor.dim() == 4:                  # a 1x1 Conv2D used as a classifier: (1, 1, in, out)
        tensor = tensor.reshape(tensor.shape[2], tensor.shape[3])
    return tensor.t() if tensor.dim() == 2 else tensor


Transform = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
_TRANSFORMS: dict[Layout, dict[str, Transform]] = {
    "torch": {"conv": _identity, "dwconv": _identity, "conv_bias": _identity, "bn": _identity, "linear": _identity,
              "linear_no_bias": _identity, "conv_as_linear": _squeeze_1x1, "conv_as_linear_no_bias": _squeeze_1x1,
              "layer_scale": _identity},
    "keras": {"conv": _keras_kernel, "dwconv": _keras_depthwise, "conv_bias": _keras_kernel, "bn": _identity,
              "linear": _keras_dense, "linear_no_bias": _keras_dense, "conv_as_linear": _keras_dense,
              "conv_as_linear_no_bias": _keras_dense, "layer_scale": _identity},
}


@dataclass(frozen=True)
class Unit:
    """One layer: our module name, the source's layer name, its kind."""

    target: str
    source: str
    kind: UnitKind


def conv_bn(target: str, source_conv: str, source_bn: str, depthwise: bool = False) -> list[Unit]:
    """The two units of a ``ConvNormAct`` (its ``conv`` and ``bn``)."""
    return [Unit(f"{target}.conv", source_conv, "dwconv" if depthwise else "conv"),
            Unit(f"{target}.bn", source_bn, "bn")]


def _join(prefix: str, name: str, sep: str) -> str:
    return f"{prefix}{sep}{name}" if prefix else name


def tensor_map(units: list[Unit], layout: Layout) -> list[tuple[str, str, Transform]]:
    """(our key, source key, layout transform) for every tensor of ``units``."""
    names = _TORCH_NAMES if layout == "torch" else _KERAS_NAMES
    sep = "." if layout == "torch" else "/"
    return [(f"{unit.target}.{ours}", _join(unit.source, theirs, sep), _TRANSFORMS[layout][unit.kind])
            for unit in units for ours, theirs in names[unit.kind]]


def _preview(keys: list[str], limit: int = 5) -> str:
    more = f" ... ({len(keys)} in all)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def load_mapped(model: nn.Module, source: Mapping[str, torch.Tensor], units: list[Unit], layout: Layout,
                origin: str) -> None:
    """Fill every parameter and buffer of ``model`` from ``source`` through ``units``.

    Raises ``ValueError`` naming the missing, left-over or wrongly shaped tensors; the model is
    not modified unless everything fits. BN ``num_batches_tracked`` counters are bookkeeping, not
    weights: copied when the source has them, reset to 0 otherwise.
    """
    pairs = tensor_map(units, layout)
    targets = model.state_dict()
    counters = {k for k in targets if k.endswith("num_batches_tracked")}
    source_counters = {k for k in source if k.endswith("num_batches_tracked")}

    used: dict[str, str] = {}
    for ours, theirs, _ in pairs:
        if theirs in used:
            raise ValueError(f"key map error: source tensor {theirs!r} mapped to both {used[theirs]!r} and {ours!r}")
        used[theirs] = ours
    mapped_targets = [ours for ours, _, _ in pairs]
    problems: list[str] = []
    unknown_targets = sorted(set(mapped_targets) - set(targets))
    if unknown_targets:
        problems.append(f"the model has no {_preview(unknown_targets)} (wrong architecture?)")
    unfilled = sorted(set(targets) - set(mapped_targets) - counters)
    if unfilled:
        problems.append(f"model tensors not filled: {_preview(unfilled)}")
    missing = [theirs for _, theirs, _ in pairs if theirs not in source]
    if missing:
        problems.append(f"missing in the checkpoint: {_preview(missing)}")
    leftover = sorted(set(source) - set(used) - source_counters)
    if leftover:
        problems.append(f"checkpoint tensors not used: {_preview(leftover)}")
    new_state: dict[str, torch.Tensor] = {}
    for ours, theirs, transform in pairs:
        if ours not in targets or theirs not in source:
            continue
        target = targets[ours]
        value = transform(torch.as_tensor(source[theirs]), target)
        if tuple(value.shape) != tuple(target.shape):
            problems.append(f"shape of {theirs!r} {tuple(source[theirs].shape)} does not fit {ours!r} "
                            f"{tuple(target.shape)}")
            continue
        new_state[ours] = value.detach().to(dtype=target.dtype).clone().contiguous()
    if problems:
        raise ValueError(f"cannot load {origin}: " + "; ".join(problems))
    for key in counters:
        counter = key.rsplit(".", 1)[0]
        matching = [theirs for ours, theirs, _ in pairs if ours.rsplit(".", 1)[0] == counter]
        counter_source = matching[0].rsplit(".", 1)[0] + ".num_batches_tracked" if matching else ""
        new_state[key] = (torch.as_tensor(source[counter_source]).to(targets[key].dtype).reshape(targets[key].shape)
                          if counter_source in source else torch.zeros_like(targets[key]))
    model.load_state_dict(new_state, strict=True)
