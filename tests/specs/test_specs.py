"""Per-model rules of the specs, each a named field with a test (STYLE.md principle 2)."""

from __future__ import annotations

import math

import pytest

from mobilenet import create_model
from mobilenet.layers.rounding import make_divisible
from mobilenet.specs import (
    MOBILENET_V1,
    MOBILENET_V2,
    MOBILENET_V3_LARGE,
    MOBILENET_V3_SMALL,
    Bottleneck,
    minimalistic,
    reduced_tail,
    resolve,
    torchvision_convention,
)


def test_block_counts_follow_the_tables() -> None:
    assert len(resolve(MOBILENET_V1).blocks) == 13           # V1 Table 1: 13 dw/pw pairs
    assert len(resolve(MOBILENET_V2).blocks) == 17           # V2 Table 2: 1+2+3+4+3+3+1
    assert len(resolve(MOBILENET_V3_LARGE).blocks) == 15     # V3 Table 1
    assert len(resolve(MOBILENET_V3_SMALL).blocks) == 11     # V3 Table 2


@pytest.mark.parametrize("spec", [MOBILENET_V1, MOBILENET_V2, MOBILENET_V3_LARGE, MOBILENET_V3_SMALL])
def test_spec_strides_multiply_to_32(spec) -> None:  # type: ignore[no-untyped-def]
    """Checked on the spec itself: resolve() would turn a stride past 32 into (no-op) dilation."""
    strides = [spec.stem.stride] + [row.stride for row in spec.body]
    assert math.prod(strides) == 32


def test_v1_last_depthwise_has_stride_one_so_the_map_stays_7x7() -> None:
    assert MOBILENET_V1.body[-1].stride == 1
    plan = resolve(MOBILENET_V1)
    assert plan.blocks[-1].stride == 1
    assert plan.blocks[-1].reduction == 32


@pytest.mark.parametrize(("width", "last"), [(0.35, 1280), (0.5, 1280), (1.0, 1280), (1.3, 1664), (1.4, 1792)])
def test_v2_keeps_the_last_conv_at_1280_below_width_one(width: float, last: int) -> None:
    assert MOBILENET_V2.last_conv_rule == "keep_below_1"
    plan = resolve(MOBILENET_V2, width)
    assert plan.last_conv is not None and plan.last_conv.out_channels == last


@pytest.mark.parametrize("width", [0.35, 0.75, 1.0, 1.25])
def test_v3_head_is_fixed_in_the_paper_convention_and_scaled_in_torchvision_s(width: float) -> None:
    for spec, head in ((MOBILENET_V3_LARGE, 1280), (MOBILENET_V3_SMALL, 1024)):
        assert resolve(spec, width).head_channels == head
        assert resolve(torchvision_convention(spec), width).head_channels == make_divisible(head * width)


def test_v3_expansion_rules_agree_at_width_one_and_differ_at_075() -> None:
    paper, tv = MOBILENET_V3_LARGE, torchvision_convention(MOBILENET_V3_LARGE)
    assert [b.expanded_channels for b in resolve(paper).blocks] == [b.expanded_channels for b in resolve(tv).blocks]
    # Block 1 at 0.75: tf-slim/Keras read exp 64 as 4x the (rounded) input 16; torchvision scales 64.
    assert resolve(paper, 0.75).blocks[1].expanded_channels == 64
    assert resolve(tv, 0.75).blocks[1].expanded_channels == 48


@pytest.mark.parametrize("spec", [MOBILENET_V1, MOBILENET_V2, MOBILENET_V3_LARGE, MOBILENET_V3_SMALL])
def test_stem_never_drops_below_eight_channels(spec) -> None:  # type: ignore[no-untyped-def]
    assert resolve(spec, 0.1).stem.out_channels == 8


def test_se_width_is_a_quarter_of_the_expansion_rounded() -> None:
    for block in resolve(MOBILENET_V3_LARGE).blocks:
        expected = make_divisible(block.expanded_channels / 4) if block.se_channels else 0
        assert block.se_channels == expected
    assert resolve(MOBILENET_V3_LARGE).blocks[3].se_channels == 24   # 72/4 = 18 -> 24


def test_residual_only_for_stride_one_and_equal_channels() -> None:
    model = create_model("mobilenet_v2")
    for block, layer in zip(model.blocks, model.plan.blocks):
        assert block.use_residual == (layer.stride == 1 and layer.in_channels == layer.out_channels)
    assert sum(block.use_residual for block in model.blocks) == 10


def test_expansion_one_has_no_expand_conv() -> None:
    model = create_model("mobilenet_v2")
    assert model.blocks[0].expand.__class__.__name__ == "Identity"
    assert model.blocks[1].expand.__class__.__name__ == "ConvNormAct"


def test_minimalistic_has_no_se_no_hard_swish_no_5x5() -> None:
    for spec in (MOBILENET_V3_LARGE, MOBILENET_V3_SMALL):
        plan = resolve(minimalistic(spec))
        layers = [plan.stem, *plan.blocks, plan.last_conv]
        assert all(layer.act == "relu" and layer.kernel in (1, 3) and layer.se_channels == 0 for layer in layers)
        assert minimalistic(spec).head_act == "relu"
        # Same widths as the full model (tf-slim V3_*_MINIMALISTIC).
        assert [b.out_channels for b in plan.blocks] == [b.out_channels for b in resolve(spec).blocks]


def test_reduced_tail_halves_channels_between_c4_and_c5_as_tf_slim() -> None:
    plan = resolve(reduced_tail(MOBILENET_V3_LARGE))
    assert [b.out_channels for b in plan.blocks[-3:]] == [80, 80, 80]
    assert [b.expanded_channels for b in plan.blocks[-3:]] == [672, 480, 480]
    assert plan.last_conv is not None and plan.last_conv.out_channels == 480
    assert plan.head_channels == 1280
    small = resolve(reduced_tail(MOBILENET_V3_SMALL))
    assert [b.out_channels for b in small.blocks[-3:]] == [48, 48, 48]
    assert small.last_conv is not None and small.last_conv.out_channels == 288


@pytest.mark.parametrize("output_stride", [8, 16, 32])
def test_output_stride_turns_strides_into_dilation(output_stride: int) -> None:
    plan = resolve(MOBILENET_V3_LARGE, output_stride=output_stride)
    assert max(layer.reduction for layer in plan.blocks) == output_stride
    dilations = [layer.dilation for layer in plan.blocks]
    assert dilations == sorted(dilations)
    assert dilations[-1] == 32 // output_stride


def test_bottleneck_row_needs_exactly_one_expansion() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Bottleneck(out=16)
    with pytest.raises(ValueError, match="exactly one"):
        Bottleneck(out=16, expansion=6, expanded=96)
