"""MobileNetV4: the universal inverted bottleneck's four forms, FusedIB, the specs against timm."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mobilenet import create_model
from mobilenet.blocks import FusedBottleneck, MobileAttention, UniversalBottleneck
from mobilenet.blocks.attention import AttentionProduct
from mobilenet.specs import UniversalBottleneck as UniversalRow

V4 = ["mobilenet_v4_conv_small", "mobilenet_v4_conv_small_050", "mobilenet_v4_conv_medium",
      "mobilenet_v4_conv_large", "mobilenet_v4_hybrid_medium", "mobilenet_v4_hybrid_large"]


@pytest.mark.parametrize(("start", "middle"), [(0, 3), (3, 0), (5, 5), (0, 0)],
                         ids=["IB", "ConvNext", "ExtraDW", "FFN"])
@pytest.mark.parametrize("stride", [1, 2])
def test_universal_bottleneck_forms(start: int, middle: int, stride: int) -> None:
    if stride == 2 and not (start or middle):
        with pytest.raises(ValueError, match="needs a start or middle depthwise conv"):
            UniversalBottleneck(16, 64, 16, start, middle, stride)
        return
    block = UniversalBottleneck(16, 64, 16, start, middle, stride).eval()
    assert isinstance(block.start, nn.Identity) == (start == 0)
    assert isinstance(block.middle, nn.Identity) == (middle == 0)
    if start:
        assert isinstance(block.start.act, nn.Identity)  # no activation before the expansion (V4 §3.2)
        assert block.start.conv.stride == ((1, 1) if middle else (stride, stride))
        assert block.start.conv.groups == 16
    if middle:
        assert block.middle.conv.stride == (stride, stride) and block.middle.conv.groups == 64
    assert block.use_residual == (stride == 1)
    x = torch.randn(2, 16, 15, 15)
    with torch.no_grad():
        out, expanded = block.forward_with_expansion(x)
    assert out.shape == (2, 16, 8 if stride == 2 else 15, 8 if stride == 2 else 15)
    assert expanded.shape[1] == 64
    if stride == 1:  # the shortcut is there: zero the projection and the block is the identity
        with torch.no_grad():
            block.project.bn.weight.zero_()
            block.project.bn.bias.zero_()
            assert torch.equal(block(x), x)


def test_fused_bottleneck_strides_in_its_full_expansion_conv() -> None:
    block = FusedBottleneck(32, 128, 48, kernel=3, stride=2)
    assert block.expand.conv.groups == 1 and block.expand.conv.stride == (2, 2)
    assert not block.use_residual
    assert block(torch.randn(1, 32, 16, 16)).shape == (1, 48, 8, 8)


def test_a_strided_row_without_depthwise_conv_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a start or middle depthwise conv"):
        UniversalRow(out=64, start_kernel=0, middle_kernel=0, stride=2)


@pytest.mark.parametrize("name", V4)
def test_same_parameters_and_layer_shapes_as_timm(name: str) -> None:
    timm = pytest.importorskip("timm")
    ours = create_model(name)
    theirs = timm.create_model(name.replace("mobilenet_v4", "mobilenetv4"), pretrained=False)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    shapes = lambda model: [t.numel() for t in model.state_dict().values() if t.dim() > 0]  # noqa: E731
    assert shapes(ours) == shapes(theirs)  # same layers in the same order (timm's head conv is 4-D)


def test_v4_expansion_taps_fall_back_where_a_fused_block_strides() -> None:
    model = create_model("mobilenet_v4_conv_medium", width_mult=0.5)
    info = model.feature_info("expansion")
    assert [(i.module, i.location, i.reduction) for i in info][:2] == [("stem", "block", 2),
                                                                       ("blocks.1", "expansion", 4)]
    assert info[-1].module == "last_conv"


def test_v4_head_has_batch_norm_that_folds() -> None:
    from mobilenet.export.fuse import count_batch_norms, fold_batch_norm

    model = create_model("mobilenet_v4_conv_small").eval()
    assert isinstance(model.head_norm, nn.BatchNorm1d) and model.head_conv.bias is None
    with torch.no_grad():
        model.head_norm.running_mean.uniform_(-1, 1)
        model.head_norm.running_var.uniform_(0.5, 2)
        nn.init.normal_(model.classifier.weight, 0, 0.3)
    folded = fold_batch_norm(model)
    assert count_batch_norms(folded) == 0
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        assert (folded(x) - model(x)).abs().max() <= 1e-4


@pytest.mark.parametrize("kv_stride", [1, 2])
def test_mobile_attention_shares_one_key_and_value_across_heads(kv_stride: int) -> None:
    block = MobileAttention(32, 32, heads=4, key_dim=8, kv_stride=kv_stride, layer_scale=1.0).eval()
    assert block.query.out_channels == 32 and block.key.out_channels == block.value.out_channels == 8
    seen: list[tuple[int, ...]] = []
    block.attend.register_forward_hook(lambda _m, inputs, _o: seen.extend(tuple(t.shape) for t in inputs))
    x = torch.randn(2, 32, 9, 9)
    with torch.no_grad():
        out = block(x)
    keys = 81 if kv_stride == 1 else 25  # a stride-2 3x3 depthwise conv: 9x9 -> 5x5
    assert seen == [(2, 4, 81, 8), (2, 1, keys, 8), (2, 1, keys, 8)]
    assert out.shape == x.shape
    with torch.no_grad():  # the branch is scaled, then added to the input
        block.scale.gamma.zero_()
        assert torch.equal(block(x), x)


def test_attention_product_is_softmax_attention() -> None:
    q, k, v = torch.randn(1, 2, 5, 4), torch.randn(1, 1, 7, 4), torch.randn(1, 1, 7, 4)
    expected = torch.nn.functional.scaled_dot_product_attention(q, k.expand(1, 2, 7, 4), v.expand(1, 2, 7, 4))
    assert torch.allclose(AttentionProduct()(q, k, v), expected, atol=1e-6)
