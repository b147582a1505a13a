"""Backbones for task heads: timm's ``features_only`` interface, no unused parameters, config round trip."""

from __future__ import annotations

import pytest
import torch

import mobilenet
from mobilenet.blocks import DepthwiseSeparable
from mobilenet.models import MobileNet

FAMILIES = ["mobilenet_v1_025", "mobilenet_v2_035", "mobilenet_v3_large_035", "mobilenet_v3_small_035",
            "mobilenet_v3_small_minimal_075", "mobilenet_v4_conv_small_050", "mobilenet_v4_hybrid_medium"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("location", ["block", "expansion"])
def test_backbone_has_no_head_and_every_parameter_learns(name: str, location: str) -> None:
    full = mobilenet.create_model(name)
    if location == "expansion" and isinstance(full.blocks[0], DepthwiseSeparable):
        pytest.skip("V1 has no expansion layers")
    backbone = mobilenet.create_model(name, features_only=True, feature_location=location, out_indices=(2, 3, 4))
    names = [n for n, _ in backbone.named_parameters()]
    assert not [n for n in names if n.startswith(("classifier", "head_conv", "head_norm"))]
    assert len(names) < len(list(full.named_parameters()))
    maps = backbone(torch.randn(2, 3, 97, 97))
    sum(m.square().mean() for m in maps).backward()
    without = [n for n, p in backbone.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not without, f"parameters without a gradient: {without[:5]}"


@pytest.mark.parametrize("name", FAMILIES)
def test_features_only_maps_match_feature_info(name: str) -> None:
    """timm's ``features_only=True, out_indices=(1, 2, 3)``: strides 4, 8, 16 with the listed channels."""
    backbone = mobilenet.create_model(name, features_only=True, out_indices=(1, 2, 3))
    info = backbone.feature_info()
    assert [i.reduction for i in info] == [4, 8, 16]
    maps = backbone(torch.randn(1, 3, 128, 128))
    assert [tuple(m.shape[1:]) for m in maps] == [(i.channels, 128 // i.reduction, 128 // i.reduction) for i in info]
    full = mobilenet.create_model(name).eval()
    backbone.load_state_dict({k: v for k, v in full.state_dict().items() if k in backbone.state_dict()})
    backbone.eval()
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        expected = full.forward_multiscale(x)[1:4]
        for got, want in zip(backbone(x), expected):
            assert torch.equal(got, want)


def test_backbone_truncates_after_its_last_tap_and_profiles_what_it_builds() -> None:
    backbone = mobilenet.create_model("mobilenet_v2", features_only=True, out_indices=(2,))
    assert isinstance(backbone.last_conv, torch.nn.Identity) and len(backbone.blocks) == 6  # up to the 32-ch blocks
    cost = mobilenet.profile(backbone, 224)
    hooks = mobilenet.cost.count_by_hooks(backbone, (1, 3, 224, 224))
    assert cost.macs == hooks["macs"] and cost.params == hooks["params"]


def test_drop_last_conv_ends_at_the_last_block() -> None:
    """V2 §6.3's "MNet V2*": the DeepLab head reads the 320-channel map, not the 1280 one."""
    backbone = mobilenet.create_model("mobilenet_v2", features_only=True, out_indices=(4,), drop_last_conv=True,
                                      output_stride=16)
    (info,) = backbone.feature_info()
    assert (info.channels, info.reduction) == (320, 16)  # the stride-32 level, dilated
    (out,) = backbone(torch.randn(1, 3, 224, 224))
    assert tuple(out.shape) == (1, 320, 14, 14)  # output stride 16 by dilation


def test_config_round_trip_and_errors() -> None:
    backbone = mobilenet.create_model("mobilenet_v3_large", features_only=True, feature_location="expansion",
                                      out_indices=(3, 4), reduced_tail=True)
    again = mobilenet.create_model(backbone.config)
    assert again.config == backbone.config and isinstance(again, MobileNet)
    assert [i.module for i in again.feature_info()] == ["blocks.12", "last_conv"]
    with pytest.raises(ValueError, match="out_indices .* out of range.*0..4"):
        mobilenet.create_model("mobilenet_v2", features_only=True, out_indices=(5,))
    with pytest.raises(ValueError, match="features_only=True"):
        mobilenet.create_model("mobilenet_v2", out_indices=(1,))
    with pytest.raises(ValueError, match="no classifier"):
        backbone.reset_classifier(3)


def test_reset_classifier_keeps_the_trunk() -> None:
    model = mobilenet.create_model("mobilenet_v3_small_050", num_classes=10).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.reset_classifier(3)
    assert model.num_classes == 3 and model.config.options["num_classes"] == 3
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 3)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in after if not k.startswith("classifier"))
    assert mobilenet.create_model(model.config).classifier.out_features == 3
