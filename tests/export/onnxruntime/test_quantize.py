"""INT8: static QDQ quantization on a small calibration folder produces a model that runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from tests.export.helpers import perturbed

from mobilenet.data.preprocessing import Preprocessing
from mobilenet.export.onnx import export_onnx, make_session, read_metadata
from mobilenet.export.onnxruntime.quantize import quantize_onnx
from mobilenet.sources import ModelSource


@pytest.fixture
def float_model(tmp_path: Path) -> Path:
    model = perturbed("mobilenet_v3_small_075", resolution=96, num_classes=2)
    export_onnx(ModelSource(model, "m", Preprocessing(96), ["ants", "bees"]), tmp_path / "float.onnx",
                exporter="torchscript")
    return tmp_path / "float.onnx"


@pytest.mark.parametrize("method", ["minmax", "entropy", "percentile"])
def test_static_int8_is_qdq_per_channel_and_runs(float_model: Path, image_folder: Path, method: str) -> None:
    out = float_model.parent / "int8.onnx"
    report = quantize_onnx(float_model, out, image_folder, method=method)
    assert report.calibration_images == 8 and report.size_bytes < 0.4 * report.float_size_bytes
    graph = onnx.load(str(out)).graph
    ops = [node.op_type for node in graph.node]
    assert ops.count("QuantizeLinear") > 10 and ops.count("DequantizeLinear") > 50
    weight_scales = [onnx.numpy_helper.to_array(i) for i in graph.initializer
                     if i.name.endswith("_scale") and "weight" in i.name.lower()]
    assert weight_scales and max(s.size for s in weight_scales) > 1  # one scale per output channel
    meta = read_metadata(out)
    assert meta["quantization"]["calibration"] == method and meta["class_names"] == ["ants", "bees"]
    session = make_session(out)
    x = np.random.default_rng(0).standard_normal((3, 3, 96, 96)).astype(np.float32)
    float_out = make_session(float_model).run(None, {"input": x})[0]
    int8_out = session.run(None, {"input": x})[0]
    assert int8_out.shape == (3, 2) and np.isfinite(int8_out).all()
    assert np.abs(int8_out - float_out).max() < 0.5 * np.abs(float_out).max() + 0.5


def test_missing_or_empty_calibration_folder(float_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "int8.onnx"
    with pytest.raises(FileNotFoundError, match="calibration folder .* does not exist"):
        quantize_onnx(float_model, out, tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="has no images"):
        quantize_onnx(float_model, out, tmp_path / "empty")
    with pytest.raises(ValueError, match="unknown calibration method 'kl'; valid: minmax, entropy, percentile"):
        quantize_onnx(float_model, out, tmp_path, method="kl")
    assert not out.exists()
