"""Detectors exported with the post-processing inside: float and INT8 ONNX against PyTorch.

The TorchScript exporter keeps these tests fast; the dynamo exporter (the default) goes the same
path and was checked on the raccoon fine-tune (README, Detection)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from mobilenet.data.preprocessing import Preprocessing
from mobilenet.export.onnx import OnnxModel, export_onnx, read_metadata
from mobilenet.export.onnxruntime.int8_form import check_int8_form, int8_form
from mobilenet.export.onnxruntime.pad import tapped_blocks
from mobilenet.export.onnxruntime.quantize import quantize_source
from mobilenet.layers.activations import ScaledHardSwish
from mobilenet.sources import ModelSource
from mobilenet.tasks.detection.export import append_postprocess, same_detections
from mobilenet.tasks.detection.postprocess import OUTPUT_NAMES
from tests.tasks.detection.helpers import calibrated_detector, smooth_images

SIZE = 64


@pytest.fixture(scope="module")
def source() -> ModelSource:
    torch.set_num_threads(1)
    model = calibrated_detector("ssdlite_mobilenet_v3_small", SIZE, width_mult=0.35, num_classes=2, noise=True)
    return ModelSource(model, "tiny", Preprocessing.from_dict(model.default_preprocessing()), ["cat", "dog"])


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return (smooth_images(3, SIZE, seed=7) - 0.5) / 0.5


@pytest.fixture(scope="module")
def float_file(source: ModelSource, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    path = tmp_path_factory.mktemp("float") / "detector.onnx"
    report = export_onnx(source, path, postprocess=True, exporter="torchscript")
    return path, report


def as_numpy(outputs) -> list[np.ndarray]:
    return [np.asarray(t) for t in outputs]


def test_the_float_file_has_nms_inside_and_pytorchs_detections(source, images, float_file) -> None:
    path, report = float_file
    assert report.diff_random <= 1e-4 and report.ops.get("NonMaxSuppression") == 1
    meta = read_metadata(path)
    assert meta["outputs"] == list(OUTPUT_NAMES) and meta["postprocess"] is True and meta["task"] == "detection"
    onnx_model = OnnxModel(path)
    assert onnx_model.output_names == list(OUTPUT_NAMES)
    got = as_numpy(onnx_model(images))        # a batch of 3 through a file exported with 2: dynamic batch
    with torch.no_grad():
        expected = as_numpy(source.model.eval()(images))
    assert int(expected[3].min()) > 0
    assert same_detections(expected, got, 1e-4) <= 1e-4


def test_int8_quantizes_the_network_and_keeps_the_float_nms(source, images, float_file, tmp_path: Path) -> None:
    calibration = [((smooth_images(16, SIZE, seed=11) - 0.5) / 0.5).numpy()]
    report = quantize_source(source, tmp_path / "detector.int8.onnx", calibration, postprocess=True,
                             exporter="torchscript")
    graph = onnx.load(report.path).graph
    ops = [node.op_type for node in graph.node]
    assert ops.count("NonMaxSuppression") == 1 and ops.count("QuantizeLinear") > 20
    assert [o.name for o in graph.output] == list(OUTPUT_NAMES)
    meta = read_metadata(report.path)
    assert meta["outputs"] == list(OUTPUT_NAMES) and meta["quantization"]["postprocess"].startswith("float")
    network = tmp_path / "network.int8.onnx"      # the INT8 network inside, cut before the post-processing
    onnx.utils.extract_model(report.path, str(network), ["input"], ["box_codes", "class_logits"])
    session = onnxruntime.InferenceSession(str(network), providers=["CPUExecutionProvider"])
    codes, logits = session.run(None, {"input": images.numpy()})
    with torch.no_grad():
        expected = source.model.forward_raw(images)
    codes_want, logits_want = (t.numpy() for t in expected)
    # a random 0.35-wide network at 64 px: its class logits survive 8 bits (1.3% mean error measured),
    # its tiny box codes (std 0.09) are half quantization noise (correlation 0.84 measured); the real
    # figure is the fine-tuned raccoon detector's INT8 AP50 (README, Detection)
    assert np.abs(logits - logits_want).mean() < 0.05 * np.abs(logits_want).mean()
    assert np.corrcoef(logits.ravel(), logits_want.ravel())[0, 1] > 0.99
    assert np.corrcoef(codes.ravel(), codes_want.ravel())[0, 1] > 0.75
    int8, reference = as_numpy(OnnxModel(report.path)(images)), as_numpy(OnnxModel(float_file[0])(images))
    assert (int8[3] > 0).all() and int8[1].max() == pytest.approx(reference[1].max(), rel=0.1)


def test_same_detections_accepts_reordered_ties_and_refuses_a_missing_box() -> None:
    boxes = np.array([[[0.1, 0.1, 0.5, 0.5], [0.2, 0.2, 0.6, 0.6], [0.0, 0.0, 0.0, 0.0]]], np.float32)
    scores, classes, count = np.array([[0.9, 0.9, 0.0]], np.float32), np.array([[1, 0, -1]]), np.array([2])
    swapped = [boxes[:, [1, 0, 2]], scores, classes[:, [1, 0, 2]], count]
    assert same_detections([boxes, scores, classes, count], swapped, 1e-4) == 0.0
    moved = boxes.copy()
    moved[0, 1] += 0.01
    with pytest.raises(ValueError, match="has no match"):
        same_detections([boxes, scores, classes, count], [moved, scores, classes, count], 1e-4)
    other_class = [boxes, scores, np.array([[1, 1, -1]]), count]
    with pytest.raises(ValueError, match="has no match"):
        same_detections([boxes, scores, classes, count], other_class, 1e-4)
    with pytest.raises(ValueError, match="keeps"):
        same_detections([boxes, scores, classes, count], [boxes, scores, classes, np.array([1])], 1e-4)


def test_the_int8_form_of_a_detector_leaves_the_tapped_block_and_computes_the_same(source) -> None:
    network = source.model.export_form(postprocess=False)
    assert tapped_blocks(network) == {"detector.backbone.blocks.8"}   # C4: bneck 9's expansion (V3 §6.3)
    form = int8_form(network)
    blocks = form.detector.backbone.blocks
    assert isinstance(blocks[8].expand.act, torch.nn.Hardswish)        # the head reads it at its own scale
    assert blocks[8].expand.conv.out_channels == network.detector.backbone.blocks[8].expand.conv.out_channels
    assert isinstance(blocks[7].expand.act, ScaledHardSwish)
    check_int8_form(network, form, SIZE)     # raises beyond 1e-4


def test_append_postprocess_refuses_a_file_that_is_not_a_detectors_network(source, float_file, tmp_path) -> None:
    with pytest.raises(ValueError, match="expected box_codes and class_logits"):
        append_postprocess(source.model, float_file[0], tmp_path / "twice.onnx", SIZE, 18)
    assert not (tmp_path / "twice.onnx").exists()
