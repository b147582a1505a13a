"""INT8 for onnxruntime: static post-training quantization in QDQ format, per-channel weights.

QDQ (QuantizeLinear/DequantizeLinear pairs around float ops) is what onnxruntime fuses into
integer kernels on CPU and what other runtimes (OpenVINO, TensorRT, QNN) read too. Weights are
signed int8 per output channel (depthwise filters differ widely in range, so one scale per tensor
loses the small ones); activations are uint8 per tensor, calibrated on the user's images.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from mobilenet.export.images import batches, list_images
from mobilenet.export.onnxruntime.int8_form import check_int8_form, int8_form
from mobilenet.export.onnx import (DEFAULT_OPSET, export_onnx, load_onnx, make_session, read_metadata,
                                   set_metadata)
from mobilenet.export.signature import export_module
from mobilenet.sources import ModelSource
from mobilenet.extras import require
from mobilenet.files import atomic_path, temporary_directory

onnx = require("onnx", "INT8 quantization")
quantization = require("onnxruntime.quantization", "INT8 quantization")
quant_pre_process = require("onnxruntime.quantization.shape_inference", "INT8 quantization").quant_pre_process

CALIBRATION_METHODS = {
    "minmax": quantization.CalibrationMethod.MinMax,
    "entropy": quantization.CalibrationMethod.Entropy,
    "percentile": quantization.CalibrationMethod.Percentile,
}


class BatchReader(quantization.CalibrationDataReader):
    """Feeds preprocessed image batches to the calibrator, cut to the model's batch size."""

    def __init__(self, arrays: Iterable[np.ndarray], input_name: str, batch: int) -> None:
        self.input_name = input_name
        self._batches: Iterator[np.ndarray] = (chunk for array in arrays for chunk in
                                               np.split(array, range(batch, len(array), batch)))
        self.batch = batch

    def get_next(self) -> dict[str, np.ndarray] | None:
        for data in self._batches:
            if len(data) == self.batch:  # a fixed-batch model cannot take a short last batch
                return {self.input_name: np.ascontiguousarray(data, dtype=np.float32)}
        return None


@dataclass
class QuantizeReport:
    path: str
    method: str
    calibration_images: int
    size_bytes: int
    float_size_bytes: int


def stem_conv(model: onnx.ModelProto) -> list[str]:
    """The name of the conv that reads the image (empty when there is none)."""
    image = model.graph.input[0].name
    return [node.name for node in model.graph.node if node.op_type == "Conv" and node.input[0] == image][:1]


def _input_batch(model: onnx.ModelProto) -> int | None:
    dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    return dim.dim_value if dim.HasField("dim_value") else None


def quantize_onnx(float_path: str | Path, out_path: str | Path, calib: str | Path | Iterable[np.ndarray],
                  method: str = "minmax",
                  limit: int = 128, per_channel: bool = True, extra: dict | None = None,
                  extra_meta: dict | None = None, quantize_stem: bool = False) -> QuantizeReport:
    """Static INT8 (QDQ) of an exported float model, calibrated on up to ``limit`` images of ``calib``.

    ``calib``: a folder of images (prepared with the preprocessing stored in the file), or
    already-preprocessed float arrays ``(N, 3, H, W)``.

    The stem conv stays float unless ``quantize_stem``: with 3 input channels its int8 kernel is
    slower than the float one on x86 and the RGB input would need its own quantize step.
    """
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"unknown calibration method {method!r}; valid: {', '.join(CALIBRATION_METHODS)}")
    float_model = load_onnx(float_path)
    batch = _input_batch(float_model) or 1
    if isinstance(calib, (str, Path)):
        paths = list_images(calib, "calibration folder")
        step = max(1, len(paths) // limit)
        paths = paths[::step][:limit]  # spread over the classes of a sorted class-per-folder tree
        meta = read_metadata(float_path)
        if "preprocessing" not in meta:
            raise ValueError(f"{str(float_path)!r} has no preprocessing metadata; export it with `mobilenet export`")
        arrays: list[np.ndarray] = list(batches(paths, meta["preprocessing"], 16))
    else:
        arrays = list(calib)
    count = min(limit, sum(len(a) for a in arrays))
    arrays = [a[:max(0, limit - sum(len(b) for b in arrays[:i]))] for i, a in enumerate(arrays)]
    if count < batch:
        raise ValueError(f"{count} calibration images are fewer than the model's batch {batch}; add images")
    options = {"ActivationSymmetric": False, "WeightSymmetric": True}
    if method == "percentile":
        options["CalibPercentile"] = 99.99
    options.update(extra or {})
    with atomic_path(out_path) as temp, temporary_directory("quantize") as work:
        prepared = Path(work) / "prepared.onnx"
        # shape inference, as onnxruntime recommends before quantizing; its graph optimisation is
        # skipped because it splits HardSwish into HardSigmoid + Mul, which costs extra Q/DQ nodes
        quant_pre_process(str(float_path), str(prepared), skip_optimization=True, skip_symbolic_shape=True)
        reader = BatchReader(arrays, float_model.graph.input[0].name, batch)
        exclude = [] if quantize_stem else stem_conv(onnx.load(str(prepared)))
        try:
            quantization.quantize_static(str(prepared), str(temp), reader, quant_format=quantization.QuantFormat.QDQ,
                                         per_channel=per_channel, activation_type=quantization.QuantType.QUInt8,
                                         weight_type=quantization.QuantType.QInt8,
                                         calibrate_method=CALIBRATION_METHODS[method], extra_options=options,
                                         nodes_to_exclude=exclude, calibration_cache_path=None)
        except ValueError as error:  # histogram calibrators fail on tensors with a (near-)zero range
            raise ValueError(f"{method} calibration failed ({error}); an untrained model has near-zero "
                             "activations: quantize a trained model, or calibrate with the minmax method") from None
        quantized = onnx.load(str(temp))
        set_metadata(quantized, {p.key: p.value for p in float_model.metadata_props if p.key.startswith("mobilenet.")})
        set_metadata(quantized, {"mobilenet.quantization": json.dumps({
            "format": "QDQ", "weights": "int8 per-channel" if per_channel else "int8 per-tensor",
            "activations": "uint8 per-tensor", "float_nodes": exclude, "calibration": method, "calibration_images": count, **(extra_meta or {})})})
        onnx.save(quantized, str(temp))
        session = make_session(temp)  # it must load and run before it replaces anything
        session.run(None, {session.get_inputs()[0].name: np.ascontiguousarray(arrays[0][:batch], dtype=np.float32)})
        shutil.rmtree(Path(work) / "augmented", ignore_errors=True)
    return QuantizeReport(str(out_path), method, count, Path(out_path).stat().st_size,
                          Path(float_path).stat().st_size)


def quantize_source(source: ModelSource, out_path: str | Path, calib: str | Path | Iterable[np.ndarray],
                    method: str = "minmax", limit: int = 128, batch: str | int = "dynamic",
                    resolution: int | None = None, opset: int = DEFAULT_OPSET, exporter: str = "dynamo",
                    extra_meta: dict | None = None, postprocess: bool = False) -> QuantizeReport:
    """Static INT8 (QDQ) of a model: its INT8 form (``int8_form``) exported to float ONNX, then quantized.

    The INT8 form computes the same function with padded widths and integer-friendly activations,
    so onnxruntime runs int8 kernels end to end instead of float islands around every hard-swish.
    A task model's network is quantized (``export_form(postprocess=False)``); with ``postprocess``
    its float post-processing is appended (a detector's decoding and NMS, ``append_postprocess``) or
    exported inside the graph (a segmenter's arg-max, which then runs after the last dequantize).
    """
    network = export_module(source.model, postprocess=False)
    form = int8_form(network)
    resolution = resolution or source.preprocessing.resolution
    check_int8_form(network, form, resolution)
    append = getattr(source.model, "append_postprocess", None) if postprocess else None
    with temporary_directory("int8-form") as work:
        float_path = Path(work) / "int8-form.onnx"
        export_onnx(ModelSource(form, source.name, source.preprocessing, source.class_names), float_path, batch=batch,
                    resolution=resolution, opset=opset, exporter=exporter,
                    postprocess=bool(postprocess) and append is None)
        meta = {"form": "int8: widths padded to 16, integer hard-swish", **(extra_meta or {})}
        if append is None:
            return quantize_onnx(float_path, out_path, calib, method=method, limit=limit, extra_meta=meta)
        network_path = Path(work) / "network.int8.onnx"
        report = quantize_onnx(float_path, network_path, calib, method=method, limit=limit,
                               extra_meta={**meta, "postprocess": "float, after the INT8 network"})
        append(network_path, out_path, resolution, opset, exporter)
        return QuantizeReport(str(out_path), report.method, report.calibration_images, Path(out_path).stat().st_size,
                              report.float_size_bytes)
