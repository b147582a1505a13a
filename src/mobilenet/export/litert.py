"""LiteRT (TensorFlow Lite) files: litert-torch conversion, PT2E INT8, checked with the LiteRT interpreter.

``pip install 'mobilenet[litert]'`` (litert-torch, which brings ai-edge-litert). Files take NHWC
float images (batch fixed, 1 by default) normalised as the metadata says, and name their signature
outputs as the model does (``logits``; a task model's ``output_names``). INT8 files quantize with
litert-torch's PT2E quantizer (int8 weights per output channel, int8 activations per tensor) and
keep float inputs and outputs, with QUANTIZE/DEQUANTIZE at the ends.

Metadata: a ``Model.metadata`` entry named ``mobilenet`` holds our JSON record (preprocessing, class
names, config, outputs), and the class names also go into an associated ``labels.txt`` (a zip
appended to the flatbuffer, as TFLite metadata writers do), so ``mobilenet.weights.tflite_graph``
and other TFLite tools read them back. The TFLite metadata schema itself (``TFLITE_METADATA``)
needs tflite-support, which is unmaintained.

XNNPACK runs the whole float graph as one delegated partition. Its int8 kernels include no
HARD_SWISH, so an INT8 MobileNetV3 would fall apart into one partition per hard-swish;
``export.litert_forms`` rewrites each int8 hard-swish of the converted file (``--hard-swish``).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mobilenet.export.edge import EdgeExportReport, Predictor, export_edge, native_output
from mobilenet.export.litert_forms import DEFAULT_HARD_SWISH, HARD_SWISH_FORMS, float_hard_swish
from mobilenet.extras import require
from mobilenet.sources import ModelSource
from mobilenet.weights.tflite import OUR_METADATA

SUFFIX = ".tflite"
METADATA_NAME = OUR_METADATA
LABELS_FILE = "labels.txt"


def with_metadata(model: bytes, record: dict[str, Any]) -> bytes:
    """``model`` with ``record`` as the ``mobilenet`` metadata buffer and the labels as an associated file."""
    require("ai_edge_litert", "writing LiteRT metadata")
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    tree = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(record).encode(), dtype=np.uint8)
    tree.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_NAME, len(tree.buffers) - 1
    tree.metadata = [m for m in (tree.metadata or []) if m.name not in (METADATA_NAME, METADATA_NAME.encode())]
    tree.metadata.append(entry)
    packed = bytes(flatbuffer_utils.convert_object_to_bytearray(tree))
    labels = record.get("class_names") or []
    if not labels:
        return packed
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(LABELS_FILE, "\n".join(labels) + "\n")
    return packed + archive.getvalue()


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Our metadata record of an exported ``.tflite`` file (empty for files we did not write)."""
    from mobilenet.weights.tflite import our_record
    from mobilenet.weights.tflite_graph import read_graph

    return our_record(read_graph(path))


def interpreter(path: str | Path, threads: int | None = None) -> Any:
    """The LiteRT interpreter with its default XNNPACK delegate, tensors allocated; clear errors for bad files."""
    from mobilenet.weights.tflite_graph import read_graph

    Interpreter = require("ai_edge_litert.interpreter", "the LiteRT runtime").Interpreter
    read_graph(path)  # a missing, truncated or foreign file gets our one-line error first
    try:
        with native_output():
            runner = Interpreter(model_path=str(path), num_threads=threads or None)
            runner.allocate_tensors()
    except (RuntimeError, ValueError) as error:
        raise ValueError(f"LiteRT cannot load {str(path)!r}: {str(error).strip().splitlines()[0][:200]}") from None
    return runner


def _quantize(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Float values into an integer tensor's grid (``q = round(x / scale) + zero_point``); floats pass."""
    dtype = np.dtype(detail["dtype"])
    if dtype.kind == "f":
        return x.astype(dtype)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero_point, info.min, info.max).astype(dtype)


def _dequantize(q: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    if np.dtype(detail["dtype"]).kind == "f":
        return np.array(q, dtype=np.float32, copy=True)
    scale, zero_point = detail["quantization"]
    return ((q.astype(np.float32) - zero_point) * scale).astype(np.float32)


def predictor(path: str | Path, threads: int | None = None) -> Predictor:
    """NCHW float images -> ``{output name: array}`` through the file's default signature. Integer
    inputs and outputs (INT8 files keep the converter's int8 ends) are (de)quantized with their own
    scale and zero point."""
    runner = interpreter(path, threads)
    signatures = runner.get_signature_list()
    if not signatures:
        raise ValueError(f"{str(path)!r} has no signature; export it with `mobilenet export --format tflite`")
    key = next(iter(signatures))
    run = runner.get_signature_runner(key)
    inputs, outputs = run.get_input_details(), run.get_output_details()
    (input_name, input_detail), = inputs.items()
    layout = read_metadata(path).get("layout", "NHWC")

    def predict(x: np.ndarray) -> dict[str, np.ndarray]:
        feed = np.ascontiguousarray(x.transpose(0, 2, 3, 1) if layout == "NHWC" else x, dtype=np.float32)
        got = run(**{input_name: _quantize(feed, input_detail)})
        return {name: _dequantize(got[name], detail) for name, detail in outputs.items()}

    return predict


def delegation(path: str | Path, threads: int | None = None) -> dict[str, Any]:
    """The file's ops and how many XNNPACK partitions the interpreter makes of them (1: all delegated)."""
    import collections

    ops = interpreter(path, threads)._get_ops_details()
    counts = collections.Counter(op["op_name"] for op in ops)
    partitions = counts.pop("DELEGATE", 0)
    return {"xnnpack_partitions": partitions, "ops": dict(counts)}


class LiteRTFormat:
    name = "LiteRT"
    channels_last = True
    fold_weights = False

    def __init__(self, hard_swish: str = DEFAULT_HARD_SWISH) -> None:
        if hard_swish not in HARD_SWISH_FORMS:
            raise ValueError(f"unknown hard-swish form {hard_swish!r}; valid: {', '.join(HARD_SWISH_FORMS)}")
        self.hard_swish = hard_swish

    def quantizer(self, qat: bool, method: str) -> Any:
        from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config

        from mobilenet.export.pt2e import with_observer

        config = get_symmetric_quantization_config(is_per_channel=True, is_qat=qat)
        quantizer = PT2EQuantizer()
        # QAT: the model arrives BN-folded, so there is no conv-BN pattern to annotate; litert-torch 0.10's
        # conv-BN annotators also pass a function where torchao 0.18's pattern export wants a module.
        quantizer.STATIC_QAT_ONLY_OPS = []
        self._quantizer = quantizer.set_global(config if qat else with_observer(config, method))
        return self._quantizer

    def lower(self, module: torch.nn.Module, example: torch.Tensor, quantized: bool, record: dict[str, Any]) -> bytes:
        litert_torch = require("litert_torch", "LiteRT export")
        from litert_torch.quantize.quant_config import QuantConfig

        litert_torch.config.show_progress = False
        config = QuantConfig(pt2e_quantizer=self._quantizer) if quantized else None
        with native_output():
            try:
                model = bytes(litert_torch.convert(module, (example,), quant_config=config).model_content())
            except Exception as error:  # the converter fails in many ways: one line naming the error
                first = (str(error).strip().splitlines() or [""])[0][:200]
                raise ValueError(f"litert-torch cannot convert this model ({type(error).__name__}: {first})") from None
        if quantized and self.hard_swish == "float":
            model, _ = float_hard_swish(model)
        return with_metadata(model, record)

    def load(self, path: Path, threads: int | None = None) -> Predictor:
        return predictor(path, threads)

    def inspect(self, path: Path) -> dict[str, Any]:
        return delegation(path)


def export_litert(source: ModelSource, path: str | Path, precision: str = "fp32", *,
                  hard_swish: str = DEFAULT_HARD_SWISH, **options: Any) -> EdgeExportReport:
    """Export ``source`` to a ``.tflite`` file (``options``: those of ``export.edge.export_edge``)."""
    require("litert_torch", "LiteRT export")
    return export_edge(LiteRTFormat(hard_swish), source, path, precision, **options)


def litert_runner(source: ModelSource | None, path: Path | None, batch: int, resolution: int,
                  threads: int | None) -> Any:
    """One timed ``invoke`` on a fixed random input (the file's own batch and size)."""
    runner = interpreter(path, threads)
    detail = runner.get_input_details()[0]
    x = np.random.default_rng(0).standard_normal(tuple(detail["shape"])).astype(np.float32)
    runner.set_tensor(detail["index"], _quantize(x, detail))
    return runner.invoke
