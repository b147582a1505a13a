"""The MobileNet building blocks."""

from mobilenet.blocks.attention import MobileAttention
from mobilenet.blocks.inverted_residual import InvertedResidual
from mobilenet.blocks.separable import DepthwiseSeparable
from mobilenet.blocks.squeeze_excite import SqueezeExcite
from mobilenet.blocks.universal import FusedBottleneck, UniversalBottleneck

__all__ = ["DepthwiseSeparable", "FusedBottleneck", "InvertedResidual", "MobileAttention", "SqueezeExcite",
           "UniversalBottleneck"]
