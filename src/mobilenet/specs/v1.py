"""MobileNetV1, Howard et al. 2017 (arXiv 1704.04861), Table 1."""

from __future__ import annotations

from mobilenet.specs.rows import Conv, MobileNetSpec, Separable

MOBILENET_V1 = MobileNetSpec(
    name="mobilenet_v1",
    paper="V1 Table 1",
    stem=Conv(out=32, kernel=3, stride=2),          # 224² x 3
    body=(
        Separable(out=64, stride=1),                 # 112² x 32
        Separable(out=128, stride=2),                # 112² x 64
        Separable(out=128, stride=1),                # 56² x 128
        Separable(out=256, stride=2),                # 56² x 128
        Separable(out=256, stride=1),                # 28² x 256
        Separable(out=512, stride=2),                # 28² x 256
        Separable(out=512, stride=1, repeats=5),     # 14² x 512, the "5x" row
        Separable(out=1024, stride=2),               # 14² x 512
        # The paper prints s2 here, but the map stays 7x7; Keras and tf-slim use s1 and the
        # published 569M MAdds only come out with s1.
        Separable(out=1024, stride=1),               # 7² x 1024
    ),
    channel_rule="truncate",   # tf-slim: max(int(c * alpha), 8)
    dropout=1e-3,              # Keras Applications' default for V1
    notes=("ReLU6 as in the tf-slim and Keras code whose weights exist (the paper says ReLU).",),
)
