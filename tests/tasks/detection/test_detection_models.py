"""Every registered detector: the task-model contract, shapes at odd sizes and widths, cost, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import mobilenet
from mobilenet import create_model, list_models, profile
from mobilenet.cost import count_by_hooks
from mobilenet.data.preprocessing import Preprocessing
from mobilenet.models.config import ModelConfig
from mobilenet.tasks.detection.loss import LossSettings, detection_loss
from mobilenet.tasks.detection.model import SSD
from mobilenet.weights import format as ours

DETECTORS = list_models(task="detection")
SMALL = {"width_mult": 0.35, "resolution": 97}


def test_every_family_has_a_detector() -> None:
    for name in ("ssd_mobilenet_v1", "ssdlite_mobilenet_v1", "ssd_mobilenet_v2", "ssdlite_mobilenet_v2",
                 "ssdlite_mobilenet_v3_large", "ssdlite_mobilenet_v3_small", "ssdlite_mobilenet_v4_conv_small",
                 "ssdlite_mobilenet_v4_conv_medium", "ssdlite320_mobilenet_v3_large"):
        assert name in DETECTORS
    assert not set(DETECTORS) & set(list_models(task="classification"))


def batch_targets(count: int) -> list[dict[str, torch.Tensor]]:
    """Small, medium and image-sized boxes, so that anchors of every map are positive somewhere."""
    boxes = torch.tensor([[0.05, 0.02, 0.97, 0.95], [0.1, 0.2, 0.5, 0.7], [0.4, 0.1, 0.55, 0.3]])
    return [{"boxes": boxes[i % 3:], "labels": torch.tensor([0, 2, 1])[i % 3:]} for i in range(count)]


@pytest.mark.parametrize("name", DETECTORS)
def test_training_loss_reaches_every_parameter_at_an_odd_size(name: str) -> None:
    """DDP without find_unused_parameters needs a gradient on every parameter from the real loss."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=3, **SMALL).train()
    # batch 3 and maps of >= 1x2 cells: train-mode BN of a single value per channel has no gradient
    codes, logits, anchors = model(torch.randn(3, 3, 129, 161))
    assert codes.shape == (3, anchors.shape[0], 4) and logits.shape == (3, anchors.shape[0], 4)
    loss, stats = detection_loss(codes, logits, anchors, batch_targets(3), LossSettings(score_fn=model.score_fn))
    loss.backward()
    assert torch.isfinite(loss) and stats["positives"] >= 3
    # DDP needs every parameter in the graph (a zero gradient is fine: no positive anchor on a map)
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    assert not unused, f"parameters outside the loss's graph: {unused[:5]}"
    still = [n for n, p in model.backbone.named_parameters() if not p.grad.abs().sum() > 0]
    assert not still, f"backbone parameters that do not learn: {still[:5]}"


@pytest.mark.parametrize("name", DETECTORS)
def test_eval_mode_gives_fixed_size_detections(name: str) -> None:
    model = create_model(name, num_classes=3, max_detections=7, **SMALL).eval()
    with torch.no_grad():
        boxes, scores, classes, count = model(torch.randn(2, 3, 97, 97))
    assert boxes.shape == (2, 7, 4) and scores.shape == classes.shape == (2, 7) and count.shape == (2,)
    assert ((boxes >= 0) & (boxes <= 1)).all() and (classes < 3).all()
    for i in range(2):
        n = int(count[i])
        assert (scores[i, :n] > 0).all() and (scores[i, n:] == 0).all() and (classes[i, n:] == -1).all()
        assert torch.equal(scores[i, :n], scores[i, :n].sort(descending=True).values)


@pytest.mark.parametrize("name", DETECTORS)
def test_the_config_rebuilds_the_same_detector(name: str) -> None:
    model = create_model(name, num_classes=4, nms="class_agnostic", **SMALL)
    config = model.config
    assert config.task == "detection" and config.backbone is not None and config.backbone.options["features_only"]
    again = create_model(ModelConfig.from_dict(config.to_dict()))
    assert again.config == config
    again.load_state_dict(model.state_dict())  # strict: the same modules and shapes


def test_task_model_contract() -> None:
    model = create_model("ssdlite_mobilenet_v3_small", num_classes=5, resolution=160)
    assert isinstance(model.backbone, mobilenet.MobileNet) and model.backbone.features_only
    assert (model.num_classes, model.resolution, model.in_chans) == (5, 160, 3)
    assert model.min_input_size == 32
    pre = Preprocessing.from_dict(model.default_preprocessing())
    assert (pre.resolution, pre.resize_mode, pre.crop_pct) == (160, "squash", 1.0)
    assert model.output_names == ("boxes", "scores", "classes", "num_detections")
    assert model.export_form(postprocess=True) is model
    raw = model.export_form(postprocess=False).eval()
    codes, logits = raw(torch.randn(1, 3, 160, 160))
    assert raw.output_names == ("box_codes", "class_logits") and logits.shape[-1] == 6
    assert all(any(n.startswith(p) for p in model.head_prefixes) for n, _ in model.named_parameters()
               if not n.startswith("backbone."))
    with pytest.raises(ValueError, match="too small"):
        model(torch.randn(1, 3, 31, 31))


def test_reset_classifier_replaces_only_the_class_predictors() -> None:
    model = create_model("ssdlite_mobilenet_v2_035", num_classes=90, resolution=128)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.reset_classifier(2)
    after = model.state_dict()
    changed = sorted(k for k in after if k not in before or after[k].shape != before[k].shape
                     or not torch.equal(after[k], before[k]))
    assert changed and all(k.startswith("class_head.") and k.endswith((".conv.weight", ".conv.bias")) for k in changed)
    assert model.num_classes == 2 and model.config.options["num_classes"] == 2
    codes, logits, anchors = model.train()(torch.randn(2, 3, 128, 128))
    assert logits.shape == (2, anchors.shape[0], 3)


@pytest.mark.parametrize("name", ["ssd_mobilenet_v1_075", "ssdlite_mobilenet_v3_small", "ssdlite_mobilenet_v2_035"])
def test_classifier_weights_fill_the_backbone_only(name: str, tmp_path: Path) -> None:
    detector = create_model(name, resolution=128)
    backbone_config = detector.backbone.config.options
    options = {k: v for k, v in backbone_config.items()
               if k not in ("features_only", "out_indices", "feature_location", "drop_last_conv", "num_classes")}
    torch.manual_seed(1)
    classifier = create_model(detector.backbone.config.name, num_classes=10, **options)
    for p in classifier.parameters():
        p.data.normal_()
    ours.save(classifier, tmp_path / "classifier.safetensors", class_names=[str(i) for i in range(10)])
    model = create_model(name, weights=tmp_path / "classifier.safetensors", num_classes=2, resolution=128)
    source = classifier.state_dict()
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, source[key]), key
    fresh = create_model(name, num_classes=2, resolution=128).state_dict()
    head = [k for k in model.state_dict() if not k.startswith("backbone.")]
    assert head and all(model.state_dict()[k].shape == fresh[k].shape for k in head)
    assert model.num_classes == 2 and model.class_names == []


@pytest.mark.parametrize("name", DETECTORS)
def test_profile_counts_the_heads_like_the_real_modules(name: str) -> None:
    model = create_model(name, resolution=128)
    counted, hooked = profile(model), count_by_hooks(model, (1, 3, 128, 128))
    assert (counted.macs, counted.params, counted.params_with_bn) == (
        hooked["macs"], hooked["params"], hooked["params_with_bn"])
    head = [row for row in counted.layers if not row.layer.startswith("backbone.")]
    assert {row.layer.split(".")[0] for row in head} == {"extras", "box_head", "class_head"}


@pytest.mark.parametrize("width", [0.3, 0.75, 1.3])
def test_any_width_scales_backbone_and_extra_layers(width: float) -> None:
    model = create_model("ssdlite_mobilenet_v2", width_mult=width, resolution=96)
    assert model.backbone.width_mult == width
    assert model.extras[0].project.conv.out_channels == max(int(512 * width), 16)
    assert model.extras[0].reduce.conv.out_channels == max(int(256 * width), 16)
    codes, _, anchors = model.train()(torch.randn(2, 3, 96, 96))
    assert codes.shape[1] == anchors.shape[0]


def test_tf_ssd_v1_has_1917_anchors_at_300_and_its_taps() -> None:
    model = create_model("ssd_mobilenet_v1_075")
    assert [i.module for i in model.backbone.feature_info()] == ["blocks.10", "blocks.12"]
    assert model.channels == (384, 768, 384, 192, 192, 96)
    _, _, anchors = model.train()(torch.randn(2, 3, 300, 300))
    assert anchors.shape == (1917, 4) and model.boxes_per_location == (3, 6, 6, 6, 6, 6)


@pytest.mark.parametrize(("options", "message"), [
    ({"num_classes": 0}, "num_classes must be an integer >= 1"),
    ({"score_fn": "relu"}, "score_fn must be one of sigmoid, softmax"),
    ({"nms": "soft"}, "nms must be one of per_class, class_agnostic"),
    ({"iou_threshold": 0.0}, "iou_threshold must be in"),
    ({"max_detections": 0}, "max_detections must be an integer >= 1"),
    ({"dropout": 0.2}, "unknown option.*dropout.*valid: num_classes"),
    ({"backbone": {"out_indices": (2, 3)}}, "output strides 16 and 32"),
])
def test_bad_options_are_refused_with_the_valid_ones(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_model("ssdlite_mobilenet_v3_small", **options)


def test_a_detector_is_an_ssd_module() -> None:
    assert all(isinstance(create_model(n, resolution=64), SSD) for n in ("ssd_mobilenet_v1", "ssdlite_mobilenet_v2"))
