"""A tiny registered MobileNetV3 for the LiteRT and ExecuTorch tests: lowering costs time per op, so
the tests export a 3-block model (hard-swish, squeeze-excite, a residual add) at 32x32."""

from __future__ import annotations

from dataclasses import replace
from typing import Iterator

from mobilenet.models.registry import MODELS, register
from mobilenet.specs.rows import Bottleneck, Conv
from mobilenet.specs.v3 import MOBILENET_V3_SMALL

TINY = "edge_test_tiny_v3"
TINY_SPEC = replace(
    MOBILENET_V3_SMALL, name=TINY,
    body=(Bottleneck(kernel=3, expanded=16, out=16, se=True, act="relu", stride=2),
          Bottleneck(kernel=3, expanded=32, out=16, se=True, act="hswish", stride=1),
          Bottleneck(kernel=5, expanded=48, out=24, se=False, act="hswish", stride=2)),
    last_conv=Conv(out=48, kernel=1, act="hswish"), head_channels=64, resolution=32)


def registered_tiny() -> Iterator[str]:
    """Register ``TINY`` for the duration of a fixture, so commands can name it; removed afterwards."""
    register(TINY, TINY_SPEC, 1.0)
    try:
        yield TINY
    finally:
        MODELS.pop(TINY, None)
