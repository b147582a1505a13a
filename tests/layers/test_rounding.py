"""The channel rounding rules (V2 paper §4; tf-slim, Keras and torchvision ``_make_divisible``)."""

from __future__ import annotations

import pytest

from mobilenet.layers.rounding import make_divisible, truncate_channels


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (32 * 0.35, 16),   # 11.2 rounds to 8, which loses > 10%, so 16
        (18, 24),          # V3 SE of 72 channels: 16 would lose 11%
        (24 * 0.75, 24),   # 18 -> 16 would lose 11% -> 24
        (1280 * 1.4, 1792),
        (3.0, 8),          # never below the divisor
        (960 * 0.75, 720),
        (100, 104),        # nearest multiple of 8 (rounds half up: 100 + 4 = 104)
        (99, 96),
    ],
)
def test_make_divisible_matches_reference_rule(value: float, expected: int) -> None:
    assert make_divisible(value, 8) == expected


def test_make_divisible_is_a_multiple_never_more_than_10_percent_down() -> None:
    for value in (x / 7 for x in range(1, 3000)):
        rounded = make_divisible(value, 8)
        assert rounded % 8 == 0 and rounded >= 8, value
        assert 0.9 * value <= rounded <= value + 8, value


def test_make_divisible_honours_min_value_and_rejects_bad_divisor() -> None:
    assert make_divisible(2, 4, min_value=4) == 4
    with pytest.raises(ValueError, match="divisor"):
        make_divisible(10, 0)


@pytest.mark.parametrize(("value", "expected"), [(32 * 0.25, 8), (32 * 0.1, 8), (1024 * 0.3, 307), (9.99, 9)])
def test_v1_truncation_keeps_at_least_eight(value: float, expected: int) -> None:
    assert truncate_channels(value) == expected
