"""MobileNetV4 convolutional models, Qin et al. ECCV 2024 (arXiv 2404.10518).

Conv-S is the paper's layout as the TensorFlow official code (``MNV4ConvSmall_BLOCK_SPECS``) and
timm give it; Conv-M and Conv-L follow timm's ``mobilenetv4_conv_medium``/``_large``, whose
ImageNet weights exist (the official TF weights are unreleased). UIB rows read
``U(out, start_kernel, middle_kernel, stride, expansion)``; a kernel of 0 is an absent depthwise conv.
Every width is scaled like a channel count (the last conv included); the 1280 head is fixed and
has BN; below width 1.0 the stem keeps its channels (timm ``fix_stem``). BN uses PyTorch's
defaults, as timm's weights were trained with them. The Hybrid models add Mobile MQA rows
``A(out, heads, key_dim, kv_stride)`` and a layer scale (1e-5) on every UIB and attention branch;
Hybrid-L uses GELU throughout.
"""

from __future__ import annotations

from mobilenet.specs.rows import Conv, MobileNetSpec
from mobilenet.specs.rows import FusedBottleneck as F
from mobilenet.specs.rows import MobileAttention as A
from mobilenet.specs.rows import UniversalBottleneck as U

RE = "relu"
_V4_RULES = dict(
    head_channels=1280, head_act=RE, head_norm=True, head_rule="fixed", stem_rule="keep_below_1",
    expansion_rule="scaled_channels", bn_eps=1e-5, bn_momentum=0.1,
)

MOBILENET_V4_CONV_SMALL = MobileNetSpec(
    name="mobilenet_v4_conv_small",
    paper="V4 Conv-S (TF official MNV4ConvSmall_BLOCK_SPECS)",
    stem=Conv(out=32, kernel=3, stride=2, act=RE),                            # 224² x 3
    body=(
        Conv(out=32, kernel=3, stride=2, act=RE),                             # 112² x 32
        Conv(out=32, kernel=1, act=RE),                                       # 56² x 32
        Conv(out=96, kernel=3, stride=2, act=RE),                             # 56² x 32
        Conv(out=64, kernel=1, act=RE),                                       # 28² x 96
        U(out=96, start_kernel=5, middle_kernel=5, stride=2, expansion=3),   # 28² x 64, ExtraDW
        U(out=96, start_kernel=0, middle_kernel=3, expansion=2, repeats=4),  # 14² x 96, IB
        U(out=96, start_kernel=3, middle_kernel=0, expansion=4),             # 14² x 96, ConvNext
        U(out=128, start_kernel=3, middle_kernel=3, stride=2, expansion=6),  # 14² x 96, ExtraDW
        U(out=128, start_kernel=5, middle_kernel=5, expansion=4),            # 7² x 128, ExtraDW
        U(out=128, start_kernel=0, middle_kernel=5, expansion=4),            # 7² x 128, IB
        U(out=128, start_kernel=0, middle_kernel=5, expansion=3),            # 7² x 128, IB
        U(out=128, start_kernel=0, middle_kernel=3, expansion=4, repeats=2), # 7² x 128, IB
    ),
    last_conv=Conv(out=960, kernel=1, act=RE),                                # 7² x 128
    **_V4_RULES,
)

MOBILENET_V4_CONV_MEDIUM = MobileNetSpec(
    name="mobilenet_v4_conv_medium",
    paper="V4 Conv-M (timm mobilenetv4_conv_medium)",
    stem=Conv(out=32, kernel=3, stride=2, act=RE),                            # 256² x 3
    body=(
        F(out=48, kernel=3, stride=2, expansion=4),                          # 128² x 32, FusedIB
        U(out=80, start_kernel=3, middle_kernel=5, stride=2, expansion=4),   # 64² x 48, ExtraDW
        U(out=80, start_kernel=3, middle_kernel=3, expansion=2),             # 32² x 80, ExtraDW
        U(out=160, start_kernel=3, middle_kernel=5, stride=2, expansion=6),  # 32² x 80, ExtraDW
        U(out=160, start_kernel=3, middle_kernel=3, expansion=4, repeats=2), # 16² x 160, ExtraDW
        U(out=160, start_kernel=3, middle_kernel=5, expansion=4),            # 16² x 160, ExtraDW
        U(out=160, start_kernel=3, middle_kernel=3, expansion=4),            # 16² x 160, ExtraDW
        U(out=160, start_kernel=3, middle_kernel=0, expansion=4),            # 16² x 160, ConvNext
        U(out=160, start_kernel=0, middle_kernel=0, expansion=2),            # 16² x 160, FFN
        U(out=160, start_kernel=3, middle_kernel=0, expansion=4),            # 16² x 160, ConvNext
        U(out=256, start_kernel=5, middle_kernel=5, stride=2, expansion=6),  # 16² x 160, ExtraDW
        U(out=256, start_kernel=5, middle_kernel=5, expansion=4),            # 8² x 256, ExtraDW
        U(out=256, start_kernel=3, middle_kernel=5, expansion=4, repeats=2), # 8² x 256, ExtraDW
        U(out=256, start_kernel=0, middle_kernel=0, expansion=4),            # 8² x 256, FFN
        U(out=256, start_kernel=3, middle_kernel=0, expansion=4),            # 8² x 256, ConvNext
        U(out=256, start_kernel=3, middle_kernel=5, expansion=2),            # 8² x 256, ExtraDW
        U(out=256, start_kernel=5, middle_kernel=5, expansion=4),            # 8² x 256, ExtraDW
        U(out=256, start_kernel=0, middle_kernel=0, expansion=4, repeats=2), # 8² x 256, FFN
        U(out=256, start_kernel=5, middle_kernel=0, expansion=2),            # 8² x 256, ConvNext
    ),
    last_conv=Conv(out=960, kernel=1, act=RE),                                # 8² x 256
    resolution=256,
    **_V4_RULES,
)

MOBILENET_V4_CONV_LARGE = MobileNetSpec(
    name="mobilenet_v4_conv_large",
    paper="V4 Conv-L (timm mobilenetv4_conv_large)",
    stem=Conv(out=24, kernel=3, stride=2, act=RE),                            # 384² x 3
    body=(
        F(out=48, kernel=3, stride=2, expansion=4),                          # 192² x 24, FusedIB
        U(out=96, start_kernel=3, middle_kernel=5, stride=2, expansion=4),   # 96² x 48, ExtraDW
        U(out=96, start_kernel=3, middle_kernel=3, expansion=4),             # 48² x 96, ExtraDW
        U(out=192, start_kernel=3, middle_kernel=5, stride=2, expansion=4),  # 48² x 96, ExtraDW
        U(out=192, start_kernel=3, middle_kernel=3, expansion=4, repeats=3), # 24² x 192, ExtraDW
        U(out=192, start_kernel=3, middle_kernel=5, expansion=4),            # 24² x 192, ExtraDW
        U(out=192, start_kernel=5, middle_kernel=3, expansion=4, repeats=5), # 24² x 192, ExtraDW
        U(out=192, start_kernel=3, middle_kernel=0, expansion=4),            # 24² x 192, ConvNext
        U(out=512, start_kernel=5, middle_kernel=5, stride=2, expansion=4, repeats=4),  # 24² x 192, ExtraDW
        U(out=512, start_kernel=5, middle_kernel=0, expansion=4),            # 12² x 512, ConvNext
        U(out=512, start_kernel=5, middle_kernel=3, expansion=4),            # 12² x 512, ExtraDW
        U(out=512, start_kernel=5, middle_kernel=0, expansion=4, repeats=2), # 12² x 512, ConvNext
        U(out=512, start_kernel=5, middle_kernel=3, expansion=4),            # 12² x 512, ExtraDW
        U(out=512, start_kernel=5, middle_kernel=5, expansion=4),            # 12² x 512, ExtraDW
        U(out=512, start_kernel=5, middle_kernel=0, expansion=4, repeats=3), # 12² x 512, ConvNext
    ),
    last_conv=Conv(out=960, kernel=1, act=RE),                                # 12² x 512
    resolution=384,
    **_V4_RULES,
)

GE = "gelu"

MOBILENET_V4_HYBRID_MEDIUM = MobileNetSpec(
    name="mobilenet_v4_hybrid_medium",
    paper="V4 Hybrid-M (timm mobilenetv4_hybrid_medium)",
    stem=Conv(out=32, kernel=3, stride=2, act=RE),                            # 256² x 3
    body=(
        F(out=48, kernel=3, stride=2, expansion=4),                          # 128² x 32, FusedIB
        U(out=80, start_kernel=3, middle_kernel=5, stride=2, expansion=4),   # 64² x 48, ExtraDW
        U(out=80, start_kernel=3, middle_kernel=3, expansion=2),             # 32² x 80, ExtraDW
        U(out=160, start_kernel=3, middle_kernel=5, stride=2, expansion=6),  # 32² x 80, ExtraDW
        U(out=160, start_kernel=0, middle_kernel=0, expansion=2),            # 16² x 160, FFN
        U(out=160, start_kernel=3, middle_kernel=3, expansion=4),            # 16² x 160, ExtraDW
        U(out=160, start_kernel=3, middle_kernel=5, expansion=4),            # 16² x 160, ExtraDW
        A(out=160, heads=4, key_dim=64, kv_stride=2),                        # 16² x 160, MQA
        U(out=160, start_kernel=3, middle_kernel=3, expansion=4),            # 16² x 160, ExtraDW
        A(out=160, heads=4, key_dim=64, kv_stride=2),                        # 16² x 160, MQA
        U(out=160, start_kernel=3, middle_kernel=0, expansion=4),            # 16² x 160, ConvNext
        A(out=160, heads=4, key_dim=64, kv_stride=2),                        # 16² x 160, MQA
        U(out=160, start_kernel=3, middle_kernel=3, expansion=4),            # 16² x 160, ExtraDW
        A(out=160, heads=4, key_dim=64, kv_stride=2),                        # 16² x 160, MQA
        U(out=160, start_kernel=3, middle_kernel=0, expansion=4),            # 16² x 160, ConvNext
        U(out=256, start_kernel=5, middle_kernel=5, stride=2, expansion=6),  # 16² x 160, ExtraDW
        U(out=256, start_kernel=5, middle_kernel=5, expansion=4),            # 8² x 256, ExtraDW
        U(out=256, start_kernel=3, middle_kernel=5, expansion=4, repeats=2), # 8² x 256, ExtraDW
        U(out=256, start_kernel=0, middle_kernel=0, expansion=2),            # 8² x 256, FFN
        U(out=256, start_kernel=3, middle_kernel=5, expansion=2),            # 8² x 256, ExtraDW
        U(out=256, start_kernel=0, middle_kernel=0, expansion=2),            # 8² x 256, FFN
        U(out=256, start_kernel=0, middle_kernel=0, expansion=4),            # 8² x 256, FFN
        A(out=256, heads=4, key_dim=64),                                     # 8² x 256, MQA
        U(out=256, start_kernel=3, middle_kernel=0, expansion=4),            # 8² x 256, ConvNext
        A(out=256, heads=4, key_dim=64),                                     # 8² x 256, MQA
        U(out=256, start_kernel=5, middle_kernel=5, expansion=4),            # 8² x 256, ExtraDW
        A(out=256, heads=4, key_dim=64),                                     # 8² x 256, MQA
        U(out=256, start_kernel=5, middle_kernel=0, expansion=4),            # 8² x 256, ConvNext
        A(out=256, heads=4, key_dim=64),                                     # 8² x 256, MQA
        U(out=256, start_kernel=5, middle_kernel=0, expansion=4),            # 8² x 256, ConvNext
    ),
    last_conv=Conv(out=960, kernel=1, act=RE),                                # 8² x 256
    resolution=256,
    layer_scale=1e-5,
    **_V4_RULES,
)

MOBILENET_V4_HYBRID_LARGE = MobileNetSpec(
    name="mobilenet_v4_hybrid_large",
    paper="V4 Hybrid-L (timm mobilenetv4_hybrid_large)",
    stem=Conv(out=24, kernel=3, stride=2, act=GE),                            # 384² x 3
    body=(
        F(out=48, kernel=3, stride=2, expansion=4, act=GE),                  # 192² x 24, FusedIB
        U(out=96, start_kernel=3, middle_kernel=5, stride=2, expansion=4, act=GE),   # 96² x 48
        U(out=96, start_kernel=3, middle_kernel=3, expansion=4, act=GE),     # 48² x 96
        U(out=192, start_kernel=3, middle_kernel=5, stride=2, expansion=4, act=GE),  # 48² x 96
        U(out=192, start_kernel=3, middle_kernel=3, expansion=4, repeats=3, act=GE),  # 24² x 192
        U(out=192, start_kernel=3, middle_kernel=5, expansion=4, act=GE),    # 24² x 192
        U(out=192, start_kernel=5, middle_kernel=3, expansion=4, repeats=2, act=GE),  # 24² x 192
        A(out=192, heads=8, key_dim=48, kv_stride=2),                        # 24² x 192, MQA
        U(out=192, start_kernel=5, middle_kernel=3, expansion=4, act=GE),    # 24² x 192
        A(out=192, heads=8, key_dim=48, kv_stride=2),                        # 24² x 192, MQA
        U(out=192, start_kernel=5, middle_kernel=3, expansion=4, act=GE),    # 24² x 192
        A(out=192, heads=8, key_dim=48, kv_stride=2),                        # 24² x 192, MQA
        U(out=192, start_kernel=5, middle_kernel=3, expansion=4, act=GE),    # 24² x 192
        A(out=192, heads=8, key_dim=48, kv_stride=2),                        # 24² x 192, MQA
        U(out=192, start_kernel=3, middle_kernel=0, expansion=4, act=GE),    # 24² x 192, ConvNext
        U(out=512, start_kernel=5, middle_kernel=5, stride=2, expansion=4, repeats=4, act=GE),  # 24² x 192
        U(out=512, start_kernel=5, middle_kernel=0, expansion=4, act=GE),    # 12² x 512, ConvNext
        U(out=512, start_kernel=5, middle_kernel=3, expansion=4, act=GE),    # 12² x 512
        U(out=512, start_kernel=5, middle_kernel=0, expansion=4, repeats=2, act=GE),  # 12² x 512
        U(out=512, start_kernel=5, middle_kernel=3, expansion=4, act=GE),    # 12² x 512
        U(out=512, start_kernel=5, middle_kernel=5, expansion=4, act=GE),    # 12² x 512
        A(out=512, heads=8, key_dim=64),                                     # 12² x 512, MQA
        U(out=512, start_kernel=5, middle_kernel=0, expansion=4, act=GE),    # 12² x 512
        A(out=512, heads=8, key_dim=64),                                     # 12² x 512, MQA
        U(out=512, start_kernel=5, middle_kernel=0, expansion=4, act=GE),    # 12² x 512
        A(out=512, heads=8, key_dim=64),                                     # 12² x 512, MQA
        U(out=512, start_kernel=5, middle_kernel=0, expansion=4, act=GE),    # 12² x 512
        A(out=512, heads=8, key_dim=64),                                     # 12² x 512, MQA
        U(out=512, start_kernel=5, middle_kernel=0, expansion=4, act=GE),    # 12² x 512
    ),
    last_conv=Conv(out=960, kernel=1, act=GE),                                # 12² x 512
    resolution=384,
    layer_scale=1e-5,
    **{**_V4_RULES, "head_act": GE},
)
