"""Layers and blocks: TF "SAME" padding, SE, the inverted residual's parts."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mobilenet.blocks import DepthwiseSeparable, InvertedResidual, SqueezeExcite
from mobilenet.layers import ConvNormAct, make_activation, tf_same_padding


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "expected"),
    [(224, 3, 2, (0, 1)), (225, 3, 2, (1, 1)), (224, 5, 2, (1, 2)), (7, 3, 1, (1, 1)), (193, 5, 2, (2, 2))],
)
def test_tf_same_padding_puts_the_extra_pixel_after(size: int, kernel: int, stride: int,
                                                    expected: tuple[int, int]) -> None:
    assert tf_same_padding(size, kernel, stride, 1) == expected


@pytest.mark.parametrize("size", [31, 32, 97, 224, 225])
@pytest.mark.parametrize("kernel", [3, 5])
def test_tf_same_conv_output_is_ceil_of_input_over_stride(size: int, kernel: int) -> None:
    layer = ConvNormAct(4, 4, kernel, stride=2, groups=4, padding="tf_same")
    assert layer(torch.randn(1, 4, size, size)).shape[-1] == math.ceil(size / 2)


def test_tf_same_equals_symmetric_for_stride_one_and_adds_no_op() -> None:
    torch.manual_seed(0)
    same = ConvNormAct(3, 8, 3, stride=1, padding="tf_same").eval()
    sym = ConvNormAct(3, 8, 3, stride=1).eval()
    sym.load_state_dict(same.state_dict())
    assert isinstance(same.pad, nn.Identity)
    x = torch.randn(1, 3, 17, 17)
    torch.testing.assert_close(same(x), sym(x))


def test_tf_same_differs_from_symmetric_for_stride_two() -> None:
    torch.manual_seed(0)
    same = ConvNormAct(3, 8, 3, stride=2, padding="tf_same").eval()
    sym = ConvNormAct(3, 8, 3, stride=2).eval()
    sym.load_state_dict(same.state_dict())
    x = torch.randn(1, 3, 16, 16)
    assert same(x).shape == sym(x).shape
    assert not torch.allclose(same(x), sym(x))
    # TF pads only bottom/right for even sizes: shifting the input by one pixel matches.
    shifted = nn.functional.pad(x, (0, 1, 0, 1))[..., 1:, 1:]
    torch.testing.assert_close(same(x)[..., 1:, 1:], sym(shifted)[..., 1:, 1:])


def test_hard_activations_are_single_modules() -> None:
    assert isinstance(make_activation("hswish"), nn.Hardswish)
    assert isinstance(make_activation("hsigmoid"), nn.Hardsigmoid)
    with pytest.raises(ValueError, match="unknown activation 'swish'; valid: relu"):
        make_activation("swish")


def test_squeeze_excite_gates_each_channel_by_its_mean() -> None:
    se = SqueezeExcite(16, 8)
    x = torch.randn(2, 16, 5, 5)
    gate = se.gate(se.expand(se.act(se.reduce(x.mean((2, 3), keepdim=True)))))
    torch.testing.assert_close(se(x), x * gate)
    assert ((gate >= 0) & (gate <= 1)).all()


def test_separable_block_is_depthwise_then_pointwise() -> None:
    block = DepthwiseSeparable(32, 64, stride=2)
    assert block.depthwise.conv.groups == 32 and block.depthwise.conv.weight.shape == (32, 1, 3, 3)
    assert block.pointwise.conv.weight.shape == (64, 32, 1, 1)
    assert block(torch.randn(1, 32, 16, 16)).shape == (1, 64, 8, 8)


def test_inverted_residual_parts_and_linear_projection() -> None:
    block = InvertedResidual(24, 144, 24, kernel=5, se_channels=40, act="hswish")
    assert block.use_residual
    assert isinstance(block.project.act, nn.Identity)     # V2 §3.2: linear bottleneck
    assert block.depthwise.conv.weight.shape == (144, 1, 5, 5)
    x = torch.randn(1, 24, 9, 9)
    out, expanded = block.forward_with_expansion(x)
    assert expanded.shape == (1, 144, 9, 9)
    torch.testing.assert_close(out, block.project(block.se(block.depthwise(expanded))) + x)
    assert not InvertedResidual(24, 144, 24, stride=2).use_residual
    assert not InvertedResidual(24, 144, 32).use_residual
