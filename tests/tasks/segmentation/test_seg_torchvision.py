"""torchvision's ``lraspp_mobilenet_v3_large`` and ``deeplabv3_mobilenet_v3_large`` exactly: the same
parameter counts, and their state dicts convert to ours with the same outputs."""

from __future__ import annotations

import pytest
import torch
from torchvision.models import segmentation

import mobilenet
from mobilenet.tasks.segmentation.torchvision import convert, model_name


def perturb(model: torch.nn.Module) -> torch.nn.Module:
    """Random-init weights with BN statistics away from 0/1 (which would hide a wrong mapping)."""
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.3, 0.3)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


@pytest.mark.parametrize("name, builder, options, params", [
    ("lraspp_mobilenet_v3_large", segmentation.lraspp_mobilenet_v3_large, {}, 3_221_538),
    ("deeplabv3_mobilenet_v3_large", segmentation.deeplabv3_mobilenet_v3_large, {"aux_loss": True}, 11_029_328),
])
def test_same_parameters_and_outputs_as_torchvision(name, builder, options, params) -> None:
    torch.manual_seed(0)
    theirs = perturb(builder(weights=None, weights_backbone=None, num_classes=21, **options))
    ours = mobilenet.create_model(name, convention="torchvision", **options)
    assert sum(p.numel() for p in theirs.parameters()) == params
    assert sum(p.numel() for p in ours.parameters()) == params
    assert model_name(theirs.state_dict()) == name
    converted = convert(theirs.state_dict())
    assert converted.config.options["convention"] == "torchvision" and converted.has_aux == bool(options)
    x = torch.randn(2, 3, 129, 97)
    with torch.no_grad():
        expected, got = theirs(x)["out"], converted(x)
    assert expected.abs().max() > 0.05
    assert (got - expected).abs().max() <= 1e-4


def test_a_foreign_state_dict_is_refused_with_its_keys() -> None:
    with pytest.raises(ValueError, match="not a torchvision LR-ASPP or DeepLabV3.*first keys: conv.weight"):
        convert({"conv.weight": torch.zeros(1)})
