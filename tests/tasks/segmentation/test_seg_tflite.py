"""The shared Coral DeepLabV3-MNV2-0.5 (TF DeepLab, PASCAL VOC) imports through the TFLite importer and
segments the Coral test bird as libcoral's test demands (IoU > 0.9, ``shared/data/README.md``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("ai_edge_litert")

import mobilenet  # noqa: E402
from mobilenet.data.preprocessing import eval_transform  # noqa: E402

DEEPLAB = "data/pretrained/tflite/coral_deeplabv3_mnv2_dm05_pascal_quant.tflite"


def libcoral_iou(predicted: np.ndarray, mask: np.ndarray) -> float:
    """libcoral's segmentation test metric: equal pixels / (2 x pixels - equal pixels); 255 counts as 0."""
    mask = np.where(mask == 255, 0, mask)
    equal = int((predicted == mask).sum())
    return equal / (2 * mask.size - equal)


def test_coral_deeplab_imports_by_structure_and_segments_the_bird(shared_dir) -> None:
    model = mobilenet.create_model(weights=str(shared_dir / DEEPLAB))
    config = model.config
    assert config.name == "deeplabv3_mobilenet_v2" and config.options["width_mult"] == 0.5
    assert config.backbone.options["channel_divisor"] == 1 and config.backbone.options["padding"] == "tf_same"
    assert model.num_classes == 21 and model.class_names[3] == "bird"
    assert model.preprocessing.antialias is False and model.preprocessing.resolution == 513
    image = Image.open(shared_dir / "data/images/segmentation/bird_segmentation.bmp").convert("RGB")
    mask = np.asarray(Image.open(shared_dir / "data/images/segmentation/bird_segmentation_mask.bmp"))
    with torch.no_grad():
        predicted = model(eval_transform(model.preprocessing)(image)[None]).argmax(1)[0].numpy()
    assert libcoral_iou(predicted, mask) > 0.9  # measured 0.939 (the uint8 interpreter: 0.924)
    assert (predicted == 3).sum() > 0.8 * (mask == 3).sum()


def test_a_file_that_is_no_deeplab_names_the_first_differing_op(shared_dir, tmp_path) -> None:
    from mobilenet.weights.tflite_deeplab import import_segmenter, is_segmenter
    from mobilenet.weights.tflite_graph import read_graph

    graph = read_graph(shared_dir / "data/pretrained/tflite/coral_mobilenet_v2_1.0_224_quant.tflite")
    assert not is_segmenter(graph) and is_segmenter(read_graph(shared_dir / DEEPLAB))
    with pytest.raises(ValueError, match=r"op \d+ .*does not match deeplabv3_mobilenet_v2"):
        import_segmenter(graph)


def test_an_imagenet_tflite_classifier_fills_the_backbone(shared_dir) -> None:
    """The ImageNet start of the README's comparison: the Coral V2-1.0 classifier's backbone in a
    segmenter, with the file's normalisation and the segmenter's own resizing."""
    path = shared_dir / "data/pretrained/tflite/coral_mobilenet_v2_1.0_224_quant.tflite"
    classifier = mobilenet.create_model(weights=str(path))
    model = mobilenet.create_model("deeplabv3_mobilenet_v2", weights=str(path), num_classes=11, resolution=160)
    assert model.num_classes == 11 and model.class_names == []
    assert model.preprocessing["mean"] == pytest.approx(classifier.preprocessing.mean)
    assert model.preprocessing["resolution"] == 160 and model.preprocessing["resize_mode"] == "squash"
    assert torch.equal(model.backbone.blocks[5].depthwise.conv.weight, classifier.blocks[5].depthwise.conv.weight)
