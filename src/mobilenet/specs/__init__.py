"""Architectures as data: one spec per paper table, variants as functions, one resolver."""

from mobilenet.specs.resolve import LayerPlan, Plan, resolve
from mobilenet.specs.rows import Bottleneck, Conv, FusedBottleneck, MobileNetSpec, Separable, UniversalBottleneck
from mobilenet.specs.v1 import MOBILENET_V1
from mobilenet.specs.v2 import MOBILENET_V2
from mobilenet.specs.v3 import MOBILENET_V3_LARGE, MOBILENET_V3_SMALL
from mobilenet.specs.v4 import (MOBILENET_V4_CONV_LARGE, MOBILENET_V4_CONV_MEDIUM, MOBILENET_V4_CONV_SMALL,
                                MOBILENET_V4_HYBRID_LARGE, MOBILENET_V4_HYBRID_MEDIUM)
from mobilenet.specs.variants import (channel_divisor, fixed_stem, minimalistic, reduced_tail, shrunk_last_conv,
                                      torchvision_convention)

__all__ = [
    "MOBILENET_V1",
    "MOBILENET_V2",
    "MOBILENET_V3_LARGE",
    "MOBILENET_V3_SMALL",
    "MOBILENET_V4_CONV_LARGE",
    "MOBILENET_V4_CONV_MEDIUM",
    "MOBILENET_V4_CONV_SMALL",
    "MOBILENET_V4_HYBRID_LARGE",
    "MOBILENET_V4_HYBRID_MEDIUM",
    "Bottleneck",
    "Conv",
    "FusedBottleneck",
    "LayerPlan",
    "MobileNetSpec",
    "Plan",
    "Separable",
    "UniversalBottleneck",
    "fixed_stem",
    "shrunk_last_conv",
    "minimalistic",
    "channel_divisor",
    "reduced_tail",
    "resolve",
    "torchvision_convention",
]
