"""Every registered segmenter: the task-model contract (docs/architecture.md), forward/backward at odd
sizes and widths, cost equal to a hook counter, every parameter trained (DDP), config round trip,
backbone-only loading from a classifier, and errors that name the valid choices."""

from __future__ import annotations

import pytest
import torch

import mobilenet
from mobilenet.cost import count_by_hooks, profile
from mobilenet.models import MobileNet
from mobilenet.models.registry import get_entry
from mobilenet.tasks.segmentation.registry import DEFINITIONS

SEGMENTERS = mobilenet.list_models(task="segmentation")
SMALL = dict(width_mult=0.35, resolution=96)  # tiny models: the tests check structure, not accuracy


def test_every_family_has_both_heads():
    families = {get_entry(name).backbone for name in SEGMENTERS}
    assert {"mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small",
            "mobilenet_v4_conv_small"} <= families
    assert sorted(SEGMENTERS) == sorted(DEFINITIONS)
    assert all(f"{head}_mobilenet_{family.removeprefix('mobilenet_')}" in SEGMENTERS
               for family in families for head in ("lraspp", "deeplabv3"))


@pytest.mark.parametrize("name", SEGMENTERS)
def test_contract_forward_cost_and_rebuild(name: str) -> None:
    model = mobilenet.create_model(name, num_classes=5, **SMALL)
    assert isinstance(model.backbone, MobileNet) and model.backbone.features_only
    assert model.num_classes == 5 and model.in_chans == 3 and model.min_input_size == 32
    assert model.config.task == "segmentation" and model.config.backbone is not None
    assert set(model.head_prefixes) == {"head", "aux"} and model.output_names == ("logits",)
    pre = model.default_preprocessing()
    assert pre["resize_mode"] == "squash" and pre["resolution"] == 96
    x = torch.randn(2, 3, 97, 75)  # odd, non-square: the logits come back at the input's size
    model.eval()
    with torch.no_grad():
        logits = model(x)
    assert logits.shape == (2, 5, 97, 75)
    counted, hooked = profile(model, (97, 75)), count_by_hooks(model, (1, 3, 97, 75))
    assert (counted.macs, counted.params, counted.params_with_bn) == (
        hooked["macs"], hooked["params"], hooked["params_with_bn"])
    again = mobilenet.create_model(model.config)
    assert again.config == model.config
    again.load_state_dict(model.state_dict())  # same architecture, key for key
    again.eval()
    with torch.no_grad():
        assert torch.equal(again(x), logits)


@pytest.mark.parametrize("name", ["lraspp_mobilenet_v3_small", "deeplabv3_mobilenet_v2", "deeplabv3_mobilenet_v1",
                                  "lraspp_mobilenet_v4_conv_small"])
@pytest.mark.parametrize("aux", [False, True])
def test_every_parameter_gets_a_gradient_from_the_training_loss(name: str, aux: bool) -> None:
    """DDP without ``find_unused_parameters``: the loss of a training step reaches every parameter."""
    from mobilenet.tasks.segmentation.loss import segmentation_loss

    model = mobilenet.create_model(name, num_classes=4, aux_loss=aux, **SMALL).train()
    outputs = model(torch.randn(2, 3, 64, 80))
    assert isinstance(outputs, tuple) == aux
    target = torch.randint(0, 4, (2, 64, 80))
    target[:, :5] = 255  # ignored pixels
    loss, _ = segmentation_loss(outputs, target, aux_weight=0.5)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"parameters without a gradient: {missing[:5]}"


@pytest.mark.parametrize("name", ["lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v2"])
def test_classifier_weights_fill_the_backbone_only(name: str, tmp_path) -> None:
    """``create_model(segmenter, weights=<classifier file>)``: the trunk is the classifier's, the head new."""
    from mobilenet.weights import format as ours

    entry = get_entry(name)
    classifier = mobilenet.create_model(entry.backbone, width_mult=0.5)
    for module in classifier.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
    path = tmp_path / "classifier.safetensors"
    ours.save(classifier, path)
    model = mobilenet.create_model(name, weights=str(path), num_classes=3, width_mult=0.5)
    assert model.num_classes == 3 and model.width_mult == 0.5
    source = classifier.state_dict()
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, source[key]), key
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 3, 64, 64)


def test_reset_classifier_keeps_everything_but_the_class_predictors() -> None:
    model = mobilenet.create_model("deeplabv3_mobilenet_v3_small", num_classes=21, aux_loss=True, **SMALL)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.reset_classifier(7)
    assert model.num_classes == 7 and model.config.options["num_classes"] == 7
    changed = {k for k, v in model.state_dict().items() if k not in before or not torch.equal(before[k], v)}
    assert changed == {"head.classifier.weight", "head.classifier.bias", "aux.layers.classifier.weight",
                       "aux.layers.classifier.bias"}
    assert mobilenet.create_model(model.config).num_classes == 7


def test_reset_classifier_to_a_head_width_keeps_the_head() -> None:
    """New classes as many as a head conv's channels (LR-ASPP's gate) replace the predictors only."""
    model = mobilenet.create_model("lraspp_mobilenet_v3_small", num_classes=21, **SMALL)
    width = model.head.gate.conv.out_channels
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.reset_classifier(width)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(before[k], v)}
    assert changed == {"head.high_classifier.weight", "head.high_classifier.bias", "head.skip_classifier.weight",
                       "head.skip_classifier.bias"}


def test_lraspp_reads_the_papers_taps_and_deeplab_the_320_channel_map() -> None:
    """V3 §6.4: 1/16 map of the RF2 last block + the 1/8 skip (TF DeepLab: layer_7/depthwise_output);
    V2 §6.3: MNet V2* reads the 320-channel map, not the 1280 one."""
    lraspp = mobilenet.create_model("lraspp_mobilenet_v3_large")
    high, skip = lraspp.backbone.feature_info()
    assert (high.module, high.channels, high.reduction) == ("last_conv", 480, 16)
    assert (skip.module, skip.location, skip.channels, skip.reduction) == ("blocks.5", "depthwise", 120, 8)
    (high,) = mobilenet.create_model("deeplabv3_mobilenet_v2").backbone.feature_info()
    assert (high.module, high.channels, high.reduction) == ("blocks.16", 320, 16)
    torchvision = mobilenet.create_model("lraspp_mobilenet_v3_large", convention="torchvision")
    assert [(i.module, i.channels) for i in torchvision.backbone.feature_info()] == [("last_conv", 960),
                                                                                     ("blocks.3", 40)]


def test_full_aspp_rates_follow_the_output_stride_and_the_decoder_reads_a_quarter_map() -> None:
    at16 = mobilenet.create_model("deeplabv3_mobilenet_v2", aspp=True, **SMALL)
    at8 = mobilenet.create_model("deeplabv3_mobilenet_v2", aspp=True, output_stride=8, **SMALL)
    dilations = [[b.conv.dilation[0] for b in m.head.aspp.branches[1:]] for m in (at16, at8)]
    assert dilations == [[6, 12, 18], [12, 24, 36]]
    plus = mobilenet.create_model("deeplabv3_mobilenet_v2", decoder=True, **SMALL)
    skip = plus.backbone.feature_info()[plus.roles["skip"]]
    assert (skip.reduction, skip.location) == (4, "depthwise")
    with torch.no_grad():
        assert plus.eval()(torch.randn(1, 3, 96, 96)).shape == (1, 21, 96, 96)


def test_errors_name_the_bad_value_and_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown head option.*valid: .*channels"):
        mobilenet.create_model("lraspp_mobilenet_v3_small", head={"filters": 64})
    with pytest.raises(ValueError, match="aspp and decoder are options of DeepLabV3 heads"):
        mobilenet.create_model("lraspp_mobilenet_v3_small", aspp=True)
    with pytest.raises(ValueError, match="num_classes must be an integer >= 1"):
        mobilenet.create_model("deeplabv3_mobilenet_v2", num_classes=0)
    with pytest.raises(ValueError, match="convention must be one of paper, torchvision"):
        mobilenet.create_model("deeplabv3_mobilenet_v2", convention="keras")
    with pytest.raises(ValueError, match="unknown option.*valid:"):
        mobilenet.create_model("deeplabv3_mobilenet_v2", dropout_rate=0.1)
    with pytest.raises(ValueError, match="resolution 16 is too small"):
        mobilenet.create_model("deeplabv3_mobilenet_v2", resolution=16)
