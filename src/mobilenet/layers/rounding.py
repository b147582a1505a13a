"""Channel rounding rules of the MobileNet papers' reference code.

One function per rule, used everywhere: the width multiplier never rounds channels anywhere else.
"""

from __future__ import annotations


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never more than 10% down.

    The rule of the TF reference code for MobileNetV2/V3 (V2 paper §4, ``_make_divisible`` in
    tf-slim, Keras and torchvision): ``max(min_value, int(v + d/2) // d * d)``, plus ``d`` when the
    result lost more than 10% of ``v``.
    """
    if divisor <= 0:
        raise ValueError(f"divisor must be a positive integer, got {divisor}")
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def truncate_channels(value: float, min_value: int = 8) -> int:
    """The MobileNetV1 rule of tf-slim: ``max(int(c * alpha), min_depth)`` with ``min_depth=8``.

    V1 paper §3.3 only says "the number of channels ... becomes alpha*M"; tf-slim truncates and
    keeps at least 8 channels, and the published 0.25/0.5/0.75 checkpoints were built that way.
    """
    return max(min_value, int(value))
