"""The backbone options segmentation needs: taps by name (with TF DeepLab's depthwise outputs),
torchvision's dilation rule, TF DeepLab's channel rounding and the segmentation RF2."""

from __future__ import annotations

import pytest
import torch

import mobilenet
from mobilenet.cost import count_by_hooks, profile


def test_named_taps_give_block_depthwise_and_expansion_maps() -> None:
    full = mobilenet.create_model("mobilenet_v3_large").eval()
    backbone = mobilenet.create_model("mobilenet_v3_large", features_only=True,
                                      feature_taps=["blocks.3", "blocks.5.depthwise", "blocks.6.expansion", "last_conv"])
    backbone.load_state_dict({k: v for k, v in full.state_dict().items() if k in backbone.state_dict()})
    backbone.eval()
    info = backbone.feature_info()
    assert [(i.location, i.reduction, i.channels) for i in info] == [
        ("block", 8, 40), ("depthwise", 8, 120), ("expansion", 8, 240), ("block", 32, 960)]
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        maps = backbone(x)
        stem = full.stem(x)
        after3 = full.blocks[:4](stem)
        after5 = full.blocks[:6](stem)
        dw5 = full.blocks[5].depthwise(full.blocks[5].expand(full.blocks[4](after3)))
        expand6 = full.blocks[6].expand(after5)
    assert torch.equal(maps[0], after3) and torch.equal(maps[1], dw5) and torch.equal(maps[2], expand6)
    assert [tuple(m.shape[1:]) for m in maps] == [(i.channels, 96 // i.reduction, 96 // i.reduction) for i in info]


def test_a_depthwise_tap_last_builds_its_block_up_to_the_depthwise_conv() -> None:
    backbone = mobilenet.create_model("mobilenet_v2", features_only=True, feature_taps=["blocks.2.depthwise"])
    assert len(backbone.blocks) == 3 and isinstance(backbone.blocks[2].project, torch.nn.Identity)
    (out,) = backbone(torch.randn(1, 3, 64, 64))
    assert out.shape == (1, 144, 16, 16)
    cost, hooks = profile(backbone, 64), count_by_hooks(backbone, (1, 3, 64, 64))
    assert (cost.macs, cost.params) == (hooks["macs"], hooks["params"])
    out.mean().backward()
    assert all(p.grad is not None for p in backbone.parameters())


def test_named_tap_errors_name_the_valid_taps() -> None:
    with pytest.raises(ValueError, match="unknown feature tap 'blocks.99'.*valid: stem, blocks.0 .. blocks.16"):
        mobilenet.create_model("mobilenet_v2", features_only=True, feature_taps=["blocks.99"])
    with pytest.raises(ValueError, match="separable layer without a depthwise conv"):
        mobilenet.create_model("mobilenet_v1", features_only=True, feature_taps=["blocks.3.depthwise"])
    with pytest.raises(ValueError, match="either out_indices or feature_taps"):
        mobilenet.create_model("mobilenet_v2", features_only=True, feature_taps=["stem"], out_indices=(1,))


def test_dilation_rules_tf_and_torchvision() -> None:
    """At output stride 16, TF-slim keeps rate 1 in the layer whose stride is dropped (the Coral DeepLab
    graph: the first 160-channel block has dilation 1); torchvision's ``dilated=True`` gives it 2."""
    tf = mobilenet.create_model("mobilenet_v3_large", output_stride=16)
    tv = mobilenet.create_model("mobilenet_v3_large", output_stride=16, convention="torchvision")
    assert [b.depthwise.conv.dilation[0] for b in tf.blocks[12:]] == [1, 2, 2]
    assert [b.depthwise.conv.dilation[0] for b in tv.blocks[12:]] == [2, 2, 2]
    assert all(b.depthwise.conv.stride[0] == 1 for b in tv.blocks[12:])


def test_tf_deeplab_channel_rounding_and_segmentation_rf2() -> None:
    """TF DeepLab's V2 0.5 has 12-channel 24-rows (divisible_by=1); tf-slim's classifier 16. The
    segmentation RF2 also halves C4's own expansion (672 -> 336 on V3-Large)."""
    slim = mobilenet.create_model("mobilenet_v2_050")
    deeplab = mobilenet.create_model("mobilenet_v2_050", channel_divisor=1)
    assert slim.blocks[1].project.conv.out_channels == 16 and deeplab.blocks[1].project.conv.out_channels == 12
    assert mobilenet.create_model(deeplab.config).blocks[1].project.conv.out_channels == 12
    detection = mobilenet.create_model("mobilenet_v3_large", reduced_tail=True)
    segmentation = mobilenet.create_model("mobilenet_v3_large", reduced_tail="segmentation")
    assert detection.blocks[12].expand.conv.out_channels == 672
    assert segmentation.blocks[12].expand.conv.out_channels == 336
    assert [b.project.conv.out_channels for b in segmentation.blocks[12:]] == [80, 80, 80]
    assert segmentation.last_conv.conv.out_channels == 480
    with pytest.raises(ValueError, match="reduced_tail must be one of False, True, 'segmentation'"):
        mobilenet.create_model("mobilenet_v3_large", reduced_tail="half")
    with pytest.raises(ValueError, match="channel_divisor must be a positive integer"):
        mobilenet.create_model("mobilenet_v2", channel_divisor=0)
