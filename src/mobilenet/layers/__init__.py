"""Layers shared by every MobileNet: rounding, activations, conv + norm + activation."""

from mobilenet.layers.activations import ACTIVATIONS, make_activation
from mobilenet.layers.conv import ConvNormAct, TfSamePad, tf_same_padding
from mobilenet.layers.rounding import make_divisible, truncate_channels

__all__ = [
    "ACTIVATIONS",
    "ConvNormAct",
    "TfSamePad",
    "make_activation",
    "make_divisible",
    "tf_same_padding",
    "truncate_channels",
]
