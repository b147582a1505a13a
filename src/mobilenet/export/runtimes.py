"""Runtimes as entries of one registry: what ``bench`` and ``fit`` measure and ``export`` writes for.

Each runtime says which file it runs (its suffix; none for eager PyTorch), which precisions it
has, which pip extra installs it, how to build its file from a model (``build``) and how to make a
timed callable from that file (``runner``). What is specific to one runtime lives in the module
named after it (``export.onnx``, ``export.onnxruntime``, ``export.litert``, ``export.executorch``);
this file only wires them in, each with one ``register_runtime``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from mobilenet.sources import ModelSource

Runner = Callable[[], Any]


@dataclass(frozen=True)
class Runtime:
    name: str
    suffix: str | None
    """The exported file it runs (``.onnx``); None: the PyTorch model itself."""
    precisions: tuple[str, ...]
    extra: str | None
    """The ``pip install 'mobilenet[extra]'`` that provides it (None: always there)."""
    build: Callable[..., None] | None
    """``build(source, path, precision, resolution, calib, exporter)`` writes the runtime's file
    (``exporter``: the ONNX exporter, for runtimes that start from ONNX)."""
    runner: Callable[[ModelSource, Path | None, int, int, int | None], Runner]
    """``runner(source, path, batch, resolution, threads)``: one timed call on a fixed input."""
    file_kind: str = ""
    """Runtimes with the same ``file_kind`` run the same files (OpenVINO runs onnxruntime's)."""
    predictor: Callable[[Path, int | None], Callable[[np.ndarray], dict[str, np.ndarray]]] | None = None
    """``predictor(path, threads)``: the file loaded, NCHW float images -> ``{output name: array}``
    (None: accuracy goes through onnxruntime's file)."""
    metadata: Callable[[Path], dict[str, Any]] | None = None
    """``metadata(path)``: our record stored in the file (preprocessing, class names, outputs)."""


RUNTIMES: dict[str, Runtime] = {}


def register_runtime(runtime: Runtime) -> None:
    """Add a runtime; a name registered twice is an error."""
    if runtime.name in RUNTIMES:
        raise ValueError(f"runtime {runtime.name!r} is already registered")
    RUNTIMES[runtime.name] = runtime


def get_runtime(name: str) -> Runtime:
    try:
        return RUNTIMES[name]
    except KeyError:
        raise ValueError(f"unsupported runtime {name!r}; valid: {', '.join(RUNTIMES)}") from None


def random_input(batch: int, channels: int, resolution: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((batch, channels, resolution, resolution)).astype(np.float32)


# --- PyTorch (eager) --------------------------------------------------------------------------
def torch_runner(source: ModelSource, _path: Path | None, batch: int, resolution: int, threads: int | None,
                 channels_last: bool = True) -> Runner:
    """Our PyTorch inference form (BN folded, channels-last) on a fixed random batch."""
    from mobilenet.export.fuse import inference_form

    if threads:
        torch.set_num_threads(threads)
    fast = inference_form(source.model, channels_last=channels_last)
    x = torch.from_numpy(random_input(batch, int(getattr(source.model, "in_chans", 3)), resolution))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)

    def run() -> Any:
        with torch.inference_mode():
            return fast(x)

    return run


# --- onnxruntime and OpenVINO (ONNX files) ------------------------------------------------------
def build_onnx(source: ModelSource, path: Path, precision: str, resolution: int, calib: Any,
               exporter: str = "dynamo") -> None:
    """Float ONNX, or INT8 QDQ of the model's INT8 form (calibrated on ``calib``)."""
    from mobilenet.export.onnx import export_onnx
    from mobilenet.export.onnxruntime.quantize import quantize_source

    if precision == "int8":  # exported from the model's INT8 form, not from the float file
        quantize_source(source, path, calib, limit=32, resolution=resolution, exporter=exporter)
    else:
        export_onnx(source, path, batch="dynamic", resolution=resolution, exporter=exporter)


def onnxruntime_runner(source: ModelSource | None, path: Path | None, batch: int, resolution: int,
                       threads: int | None) -> Runner:
    from mobilenet.export.onnx import make_session

    session = make_session(path, threads)
    name = session.get_inputs()[0].name
    channels = session.get_inputs()[0].shape[1]
    x = random_input(batch, channels if isinstance(channels, int) else 3, resolution)
    return lambda: session.run(None, {name: x})


def openvino_runner(source: ModelSource | None, path: Path | None, batch: int, resolution: int,
                    threads: int | None) -> Runner:
    from mobilenet.export.onnx import load_onnx
    from mobilenet.extras import require

    ov = require("openvino", "runtime 'openvino'")

    model = load_onnx(path)  # a clear error for a bad file before OpenVINO's own
    channels = model.graph.input[0].type.tensor_type.shape.dim[1].dim_value or 3
    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    compiled = ov.Core().compile_model(str(path), "CPU", config)
    request = compiled.create_infer_request()
    x = random_input(batch, channels, resolution)
    return lambda: request.infer({0: x})


# --- LiteRT and ExecuTorch (export.litert, export.executorch) -------------------------------------
def build_litert(source: ModelSource, path: Path, precision: str, resolution: int, calib: Any,
                 exporter: str = "dynamo") -> None:
    """A ``.tflite`` file: float, or PT2E INT8 calibrated on ``calib``."""
    from mobilenet.export.litert import export_litert

    export_litert(source, path, precision, resolution=resolution, calib=calib, calib_limit=32, log=lambda _: None)


def build_executorch(source: ModelSource, path: Path, precision: str, resolution: int, calib: Any,
                     exporter: str = "dynamo") -> None:
    """A ``.pte`` file lowered to XNNPACK: float, or PT2E INT8 calibrated on ``calib``."""
    from mobilenet.export.executorch import export_executorch

    export_executorch(source, path, precision, resolution=resolution, calib=calib, calib_limit=32, log=lambda _: None)


def lazy(module: str, name: str) -> Callable[..., Any]:
    """``module.name``, imported at the first call: a runtime's package loads only when it is used."""
    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    return call


register_runtime(Runtime("torch", None, ("fp32",), None, None, torch_runner))
register_runtime(Runtime("onnxruntime", ".onnx", ("fp32", "int8"), "export", build_onnx, onnxruntime_runner, "onnx"))
register_runtime(Runtime("openvino", ".onnx", ("fp32", "int8"), "openvino", build_onnx, openvino_runner, "onnx"))
LITERT, EXECUTORCH = "mobilenet.export.litert", "mobilenet.export.executorch"
register_runtime(Runtime("litert", ".tflite", ("fp32", "int8"), "litert", build_litert, lazy(LITERT, "litert_runner"),
                         "tflite", lazy(LITERT, "predictor"), lazy(LITERT, "read_metadata")))
register_runtime(Runtime("executorch", ".pte", ("fp32", "int8"), "executorch", build_executorch,
                         lazy(EXECUTORCH, "executorch_runner"), "pte", lazy(EXECUTORCH, "predictor"),
                         lazy(EXECUTORCH, "read_metadata")))
