"""MobileNetV3, Howard et al. ICCV 2019 (arXiv 1905.02244), Tables 1 and 2.

"exp size" is stored as printed; with the default ``expansion_rule="factor_of_input"`` it is
read as a factor of the row's input channels, as tf-slim and Keras do, which is what their
width-multiplied checkpoints and the paper's Table 9 were built with. The stem is scaled with
width like every layer (tf-slim, torchvision); Keras keeps it at 16, which differs only below 0.75,
where Keras has no weights.
"""

from __future__ import annotations

from mobilenet.specs.rows import Bottleneck as B
from mobilenet.specs.rows import Conv, MobileNetSpec

RE, HS = "relu", "hswish"

MOBILENET_V3_LARGE = MobileNetSpec(
    name="mobilenet_v3_large",
    paper="V3 Table 1",
    stem=Conv(out=16, kernel=3, stride=2, act=HS),                    # 224² x 3
    body=(
        B(kernel=3, expanded=16, out=16, se=False, act=RE, stride=1),     # 112² x 16
        B(kernel=3, expanded=64, out=24, se=False, act=RE, stride=2),     # 112² x 16
        B(kernel=3, expanded=72, out=24, se=False, act=RE, stride=1),     # 56² x 24
        B(kernel=5, expanded=72, out=40, se=True, act=RE, stride=2),      # 56² x 24
        B(kernel=5, expanded=120, out=40, se=True, act=RE, stride=1),     # 28² x 40
        B(kernel=5, expanded=120, out=40, se=True, act=RE, stride=1),     # 28² x 40
        B(kernel=3, expanded=240, out=80, se=False, act=HS, stride=2),    # 28² x 40
        B(kernel=3, expanded=200, out=80, se=False, act=HS, stride=1),    # 14² x 80
        B(kernel=3, expanded=184, out=80, se=False, act=HS, stride=1),    # 14² x 80
        B(kernel=3, expanded=184, out=80, se=False, act=HS, stride=1),    # 14² x 80
        B(kernel=3, expanded=480, out=112, se=True, act=HS, stride=1),    # 14² x 80
        B(kernel=3, expanded=672, out=112, se=True, act=HS, stride=1),    # 14² x 112
        B(kernel=5, expanded=672, out=160, se=True, act=HS, stride=2),    # 14² x 112
        B(kernel=5, expanded=960, out=160, se=True, act=HS, stride=1),    # 7² x 160
        B(kernel=5, expanded=960, out=160, se=True, act=HS, stride=1),    # 7² x 160
    ),
    last_conv=Conv(out=960, kernel=1, act=HS),                        # 7² x 160
    head_channels=1280,                                               # 1² x 960, NBN
    # tf-slim's finegrain_classification_mode keeps the 1280 head at every width; Table 9's
    # params need it (1.25: 7.5M). Keras scales it above 1.0, where it has no weights.
    head_rule="fixed",
    bn_eps=1e-3,
    bn_momentum=0.01,
)

MOBILENET_V3_SMALL = MobileNetSpec(
    name="mobilenet_v3_small",
    paper="V3 Table 2",
    stem=Conv(out=16, kernel=3, stride=2, act=HS),                    # 224² x 3
    body=(
        B(kernel=3, expanded=16, out=16, se=True, act=RE, stride=2),      # 112² x 16
        B(kernel=3, expanded=72, out=24, se=False, act=RE, stride=2),     # 56² x 16
        B(kernel=3, expanded=88, out=24, se=False, act=RE, stride=1),     # 28² x 24
        B(kernel=5, expanded=96, out=40, se=True, act=HS, stride=2),      # 28² x 24
        B(kernel=5, expanded=240, out=40, se=True, act=HS, stride=1),     # 14² x 40
        B(kernel=5, expanded=240, out=40, se=True, act=HS, stride=1),     # 14² x 40
        B(kernel=5, expanded=120, out=48, se=True, act=HS, stride=1),     # 14² x 40
        B(kernel=5, expanded=144, out=48, se=True, act=HS, stride=1),     # 14² x 48
        B(kernel=5, expanded=288, out=96, se=True, act=HS, stride=2),     # 14² x 48
        B(kernel=5, expanded=576, out=96, se=True, act=HS, stride=1),     # 7² x 96
        B(kernel=5, expanded=576, out=96, se=True, act=HS, stride=1),     # 7² x 96
    ),
    # The paper marks SE on this conv; tf-slim and torchvision (whose weights exist) have none.
    last_conv=Conv(out=576, kernel=1, act=HS),                        # 7² x 96
    head_channels=1024,                                               # 1² x 576, NBN
    head_rule="fixed",
    bn_eps=1e-3,
    bn_momentum=0.01,
)
