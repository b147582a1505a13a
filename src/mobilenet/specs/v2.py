"""MobileNetV2, Sandler et al. CVPR 2018 (arXiv 1801.04381), Table 2."""

from __future__ import annotations

from mobilenet.specs.rows import Bottleneck, Conv, MobileNetSpec

MOBILENET_V2 = MobileNetSpec(
    name="mobilenet_v2",
    paper="V2 Table 2",
    stem=Conv(out=32, kernel=3, stride=2),                            # 224² x 3
    body=(
        Bottleneck(expansion=1, out=16, repeats=1, stride=1),         # 112² x 32
        Bottleneck(expansion=6, out=24, repeats=2, stride=2),         # 112² x 16
        Bottleneck(expansion=6, out=32, repeats=3, stride=2),         # 56² x 24
        Bottleneck(expansion=6, out=64, repeats=4, stride=2),         # 28² x 32
        Bottleneck(expansion=6, out=96, repeats=3, stride=1),         # 14² x 64
        Bottleneck(expansion=6, out=160, repeats=3, stride=2),        # 14² x 96
        Bottleneck(expansion=6, out=320, repeats=1, stride=1),        # 7² x 160
    ),
    last_conv=Conv(out=1280, kernel=1),                               # 7² x 320
    # V2 paper §4: "we apply width multiplier to all layers except the very last convolutional
    # layer" for multipliers below one; tf-slim, Keras and torchvision scale it above one.
    last_conv_rule="keep_below_1",
)
