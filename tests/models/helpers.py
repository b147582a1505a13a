"""Layer-by-layer comparison of our models with torchvision, timm and Keras (used by test_peers.py).

Every peer is reduced to the ordered list of its weighted layers (convolutions and fully connected
layers) in PyTorch layout, so two models agree when the lists zip together exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

# Modules that hold parameters of their own and are neither a conv nor a linear layer; anything
# else with parameters is an error, so no weights can hide from the comparison.
NORM_TYPES = (nn.BatchNorm2d,)


@dataclass(frozen=True)
class Layer:
    """A conv or linear layer: weight shape in PyTorch layout, bias or not, stride and dilation.

    Conv weights are ``(out, in / groups, kh, kw)``, so a depthwise conv is ``(C, 1, k, k)``;
    linear weights are ``(out, in)`` and have no stride or dilation (None).
    """

    name: str
    shape: tuple[int, ...]
    bias: bool
    stride: tuple[int, int] | None
    dilation: tuple[int, int] | None

    @property
    def signature(self) -> tuple[Any, ...]:
        return self.shape, self.bias, self.stride, self.dilation

    def __str__(self) -> str:
        kind = "linear" if self.stride is None else f"conv stride {self.stride}, dilation {self.dilation}"
        return f"{self.name!r} ({kind}, weight {self.shape}, bias={self.bias})"


def torch_layers(model: nn.Module) -> list[Layer]:
    """The conv/linear layers of a PyTorch model in module order."""
    layers: list[Layer] = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            layers.append(Layer(name, tuple(module.weight.shape), module.bias is not None,
                                tuple(module.stride), tuple(module.dilation)))
        elif isinstance(module, nn.Linear):
            layers.append(Layer(name, tuple(module.weight.shape), module.bias is not None, None, None))
        elif not isinstance(module, NORM_TYPES) and any(True for _ in module.parameters(recurse=False)):
            raise TypeError(f"{name!r} is a {type(module).__name__} with parameters; teach tests.models.helpers about it")
    return layers


def keras_layers(model: Any) -> list[Layer]:
    """The conv/dense layers of a Keras model in PyTorch layout.

    Keras kernels are HWIO, depthwise kernels ``(kh, kw, C, multiplier)``, Dense kernels
    ``(in, out)``. A 1x1 Conv2D after the top-level global pooling (V1's ``conv_preds``, V3's
    ``conv_2`` and ``logits``) works on a 1x1 map: it is a linear layer in PyTorch terms.
    """
    pools = [i for i, layer in enumerate(model.layers) if type(layer).__name__ == "GlobalAveragePooling2D"]
    top_pool = pools[-1] if pools else len(model.layers)
    layers: list[Layer] = []
    for index, layer in enumerate(model.layers):
        kind = type(layer).__name__
        if kind == "DepthwiseConv2D":
            kh, kw, channels, multiplier = layer.kernel.shape
            layers.append(Layer(layer.name, (channels * multiplier, 1, kh, kw), layer.use_bias,
                                tuple(layer.strides), tuple(layer.dilation_rate)))
        elif kind == "Conv2D":
            kh, kw, cin, cout = layer.kernel.shape
            if index > top_pool and (kh, kw) == (1, 1):
                layers.append(Layer(layer.name, (cout, cin), layer.use_bias, None, None))
            else:
                layers.append(Layer(layer.name, (cout, cin, kh, kw), layer.use_bias,
                                    tuple(layer.strides), tuple(layer.dilation_rate)))
        elif kind == "Dense":
            cin, cout = layer.kernel.shape
            layers.append(Layer(layer.name, (cout, cin), layer.use_bias, None, None))
        elif kind != "BatchNormalization" and layer.weights:
            raise TypeError(f"Keras layer {layer.name!r} ({kind}) has weights; teach tests.models.helpers about it")
    return layers


def assert_same_layers(ours: list[Layer], peer: list[Layer], peer_name: str) -> None:
    """Ordered zip of two layer lists; fails on the first layer that differs, naming both."""
    for index, (mine, theirs) in enumerate(zip(ours, peer)):
        assert mine.signature == theirs.signature, (
            f"layer {index} differs: ours {mine} vs {peer_name} {theirs}"
        )
    if len(ours) != len(peer):
        extra, owner = (ours, "ours") if len(ours) > len(peer) else (peer, peer_name)
        raise AssertionError(
            f"{len(ours)} layers in ours vs {len(peer)} in {peer_name}; first unmatched ({owner}): "
            f"{extra[min(len(ours), len(peer))]}"
        )


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def num_bn_statistics(model: nn.Module) -> int:
    """BN running means and variances: what Keras counts as non-trainable weights."""
    return sum(m.running_mean.numel() + m.running_var.numel()
               for m in model.modules() if isinstance(m, nn.BatchNorm2d))


def keras_weight_counts(model: Any) -> tuple[int, int]:
    """(trainable, non-trainable) weight counts of a Keras model."""
    def count(weights: list[Any]) -> int:
        return sum(math.prod(w.shape) for w in weights)

    return count(model.trainable_weights), count(model.non_trainable_weights)


def keras_feature_shape(model: Any) -> tuple[int, ...]:
    """(C, H, W) of the map the top-level global pooling reduces (Keras is channels-last)."""
    pool = [layer for layer in model.layers if type(layer).__name__ == "GlobalAveragePooling2D"][-1]
    _, height, width, channels = pool.input.shape
    return channels, height, width


@torch.no_grad()
def feature_shape(model: nn.Module, forward: str = "forward_features", size: int = 224) -> tuple[int, ...]:
    """(C, H, W) of the map before pooling, from ``getattr(model, forward)`` on a size x size input.

    Shape inference only: the model is moved to the meta device (so call this last on a model).
    """
    model.eval().to("meta")
    return tuple(getattr(model, forward)(torch.zeros(1, 3, size, size, device="meta")).shape[1:])

ACTIVATION_TYPES = (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.Hardsigmoid, nn.SiLU, nn.Sigmoid, nn.GELU)


def activation_kinds(model: nn.Module) -> list[str]:
    """Activation modules in module order (ReLU, ReLU6, Hardswish, ...): where each non-linearity sits."""
    return [type(m).__name__ for m in model.modules() if isinstance(m, ACTIVATION_TYPES)]
