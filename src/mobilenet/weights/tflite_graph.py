"""A TensorFlow Lite file as a graph: operators in execution order, tensors, dequantized constants.

Read with Google's own schema binding, ``ai_edge_litert.schema_py_generated`` (package
``ai-edge-litert``, ``pip install 'mobilenet[tflite]'``): it is generated from the current
``schema.fbs`` by the LiteRT team, so new operators and fields arrive with LiteRT releases; its
object API (``ModelT``) unpacks a whole file in one call; and the same package brings the
interpreter that checks our imports. The community ``tflite`` package lags the schema (TF 2.18)
and has no object API.

Nothing here knows MobileNets: ``mobilenet.weights.tflite`` maps classifiers, and the SSD and
DeepLab graphs expose what their mapping needs (custom ops with their options, resize flags,
constant anchors). Tensor names are kept for messages only; they differ between converters.

Constants are dequantized ``(q - zero_point) * scale``, per tensor or per channel along
``quantized_dimension`` (int32 biases carry their own scale). Files may append a zip of
"associated files" (label maps); they are read with ``zipfile``. The ``TFLITE_METADATA``
flatbuffer is kept as raw bytes: its schema binding (``tflite-support``) is unmaintained since
2023, and what classifiers need from it (input size, normalisation, labels) is also in the
input tensor's shape and quantization and in the associated files.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

INSTALL = "pip install 'mobilenet[tflite]'"


class UnsupportedTensor(ValueError):
    """A well-formed file whose tensor storage this reader does not handle (sparse, packed int4)."""
_NUMPY_TYPES = {"FLOAT32": np.float32, "FLOAT16": np.float16, "FLOAT64": np.float64, "INT32": np.int32,
                "UINT8": np.uint8, "INT64": np.int64, "BOOL": np.bool_, "INT16": np.int16, "INT8": np.int8,
                "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64}
_ENUM_OPTIONS = {"padding": "Padding", "fusedActivationFunction": "ActivationFunctionType"}


def schema() -> Any:
    """The LiteRT schema module; a ValueError naming the install command when it is missing."""
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:
        raise ValueError(f"reading .tflite files needs the ai-edge-litert package: {INSTALL}") from None
    return schema_py_generated


def _enum_names(enum: type) -> dict[int, str]:
    return {value: name for name, value in vars(enum).items() if not name.startswith("_")}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True)
class Quantization:
    """``real = (q - zero_point) * scale``; per channel along ``axis`` when ``scale`` has several values."""

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int

    def dequantize(self, values: np.ndarray) -> np.ndarray:
        shape = [1] * values.ndim
        if self.scale.size > 1:
            shape[self.axis] = self.scale.size
        scale = self.scale.reshape(shape).astype(np.float64)
        zero_point = self.zero_point.reshape(shape) if self.zero_point.size > 1 else self.zero_point.reshape(-1)[:1]
        return ((values.astype(np.float64) - zero_point) * scale).astype(np.float32)


@dataclass(frozen=True)
class Tensor:
    index: int
    name: str
    """For messages only: converters name tensors differently."""
    shape: tuple[int, ...]
    dtype: str
    """The schema's type name: ``UINT8``, ``INT8``, ``INT32``, ``FLOAT32``, ..."""
    quantization: Quantization | None
    data: np.ndarray | None
    """The stored values of a constant (in ``dtype``, not dequantized); None for activations."""

    @property
    def is_constant(self) -> bool:
        return self.data is not None


@dataclass(frozen=True)
class Operator:
    index: int
    """Position in execution order."""
    type: str
    """Builtin name (``CONV_2D``) or a custom op's code (``TFLite_Detection_PostProcess``)."""
    inputs: tuple[int, ...]
    """Tensor indices; -1 for an optional input that is absent (a conv without bias)."""
    outputs: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)
    """Builtin options in snake case (``stride_h``, ``padding="SAME"``, ``fused_activation_function="RELU6"``)
    or a custom op's flexbuffer options (``nms_iou_threshold``, ...)."""
    custom: bool = False


@dataclass
class TFLiteGraph:
    """The main subgraph of a ``.tflite`` file (``read_graph``)."""

    path: Path
    description: str
    operators: list[Operator]
    tensors: list[Tensor]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    metadata: dict[str, bytes] = field(default_factory=dict)
    """Named metadata buffers (``TFLITE_METADATA``, ``min_runtime_version``), raw."""
    associated_files: dict[str, bytes] = field(default_factory=dict)
    """Members of the zip appended to the file (``labelmap.txt``)."""
    subgraph_count: int = 1

    def constant(self, index: int) -> np.ndarray:
        """A constant tensor as float32, dequantized; ValueError for activations."""
        tensor = self.tensors[index]
        if tensor.data is None:
            raise ValueError(f"{self.path}: tensor {index} ({tensor.name!r}) is not a constant")
        if tensor.quantization is not None and tensor.dtype not in ("FLOAT32", "FLOAT16", "FLOAT64"):
            return tensor.quantization.dequantize(tensor.data)
        return tensor.data.astype(np.float32)

    @cached_property
    def _consumers(self) -> dict[int, list[Operator]]:
        consumers: dict[int, list[Operator]] = {}
        for op in self.operators:
            for index in dict.fromkeys(i for i in op.inputs if i >= 0):
                consumers.setdefault(index, []).append(op)
        return consumers

    @cached_property
    def _producers(self) -> dict[int, Operator]:
        return {index: op for op in self.operators for index in op.outputs}

    def consumers(self, index: int) -> list[Operator]:
        """The operators reading tensor ``index``, in execution order."""
        return self._consumers.get(index, [])

    def producer(self, index: int) -> Operator | None:
        """The operator writing tensor ``index`` (None for inputs and constants)."""
        return self._producers.get(index)

    def describe(self, op: Operator) -> str:
        """One line: index, type, input and output shapes, options."""
        def shapes(indices: tuple[int, ...]) -> str:
            return ", ".join("-" if i < 0 else f"{list(self.tensors[i].shape)}{'c' if self.tensors[i].is_constant else ''}"
                             for i in indices)
        return f"{op.index} {op.type} ({shapes(op.inputs)}) -> ({shapes(op.outputs)}) {op.options}"


def _quantization(params: Any) -> Quantization | None:
    if params is None or params.scale is None or len(params.scale) == 0:
        return None
    zero_point = np.asarray(params.zeroPoint if params.zeroPoint is not None else [0], dtype=np.int64)
    return Quantization(np.asarray(params.scale, dtype=np.float32), zero_point, int(params.quantizedDimension))


def _options(op: Any, enums: dict[str, dict[int, str]]) -> dict[str, Any]:
    if op.customOptions is not None and len(op.customOptions):
        from flatbuffers import flexbuffers

        try:
            decoded = flexbuffers.Loads(bytes(op.customOptions))
        except Exception:  # not every custom op stores a flexbuffer
            return {"raw": bytes(op.customOptions)}
        return dict(decoded) if isinstance(decoded, dict) else {"value": decoded}
    options: dict[str, Any] = {}
    for holder in (op.builtinOptions, getattr(op, "builtinOptions2", None)):
        for key, value in (vars(holder) if holder is not None else {}).items():
            if key in _ENUM_OPTIONS:
                value = enums[key].get(value, value)
            elif isinstance(value, np.ndarray):
                value = tuple(value.tolist())
            options[_snake(key)] = value
    return options


def _buffer_bytes(buffer: Any, raw: bytes) -> bytes | None:
    if buffer.data is not None and len(buffer.data):
        return buffer.data.tobytes()
    if getattr(buffer, "offset", 0) > 1 and buffer.size:  # data stored after the flatbuffer (files > 2 GB)
        if buffer.offset + buffer.size > len(raw):
            raise ValueError(f"a buffer ends at byte {buffer.offset + buffer.size} of a {len(raw)}-byte file")
        return raw[buffer.offset:buffer.offset + buffer.size]
    return None


def _tensor(index: int, tensor: Any, buffers: list[Any], raw: bytes, types: dict[int, str]) -> Tensor:
    dtype = types.get(tensor.type, str(tensor.type))
    shape = tuple(int(d) for d in (tensor.shape if tensor.shape is not None else ()))
    name = tensor.name.decode(errors="replace") if isinstance(tensor.name, bytes) else str(tensor.name or "")
    data = _buffer_bytes(buffers[tensor.buffer], raw) if 0 < tensor.buffer < len(buffers) else None
    values = None
    if data is not None:
        if tensor.sparsity is not None:
            raise UnsupportedTensor(f"tensor {index} ({name!r}) is stored sparse, which this reader does not densify")
        if dtype not in _NUMPY_TYPES:
            raise UnsupportedTensor(f"tensor {index} ({name!r}) has type {dtype}; readable: {', '.join(_NUMPY_TYPES)}")
        values = np.frombuffer(data, dtype=_NUMPY_TYPES[dtype])
        values = values.reshape(shape) if values.size == int(np.prod(shape)) else values
        if values.shape != shape:
            raise ValueError(f"tensor {index} ({name!r}) holds {values.size} values for shape {list(shape)}")
    return Tensor(index, name, shape, dtype, _quantization(tensor.quantization), values)


def _associated_files(raw: bytes) -> dict[str, bytes]:
    stream = io.BytesIO(raw)
    if not zipfile.is_zipfile(stream):
        # A zip member header (signature, then a printable name of the length it states) without
        # the zip's central directory at the end: the appended files were cut off.
        start = raw.rfind(b"PK\x03\x04")
        name_length = int.from_bytes(raw[start + 26:start + 28], "little") if start >= 0 else 0
        name = raw[start + 30:start + 30 + name_length]
        if 0 < name_length == len(name) and name.isascii() and name.decode().isprintable():
            raise ValueError(f"the files appended to it (such as {name.decode()!r}) are cut off")
        return {}
    with zipfile.ZipFile(stream) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}


def parse_graph(raw: bytes, path: str | Path = "<bytes>") -> TFLiteGraph:
    """The graph of a ``.tflite`` file's bytes; a ValueError naming ``path`` if they are not one."""
    s = schema()
    path = Path(path)
    if len(raw) < 8 or not s.Model.ModelBufferHasIdentifier(raw, 0):
        raise ValueError(f"{path} is not a TensorFlow Lite file (no 'TFL3' flatbuffer identifier)")
    try:
        model = s.ModelT.InitFromPackedBuf(raw, 0)
        if not model.subgraphs:
            raise ValueError("it has no subgraph")
        enums = {key: _enum_names(getattr(s, enum)) for key, enum in _ENUM_OPTIONS.items()}
        builtins, types = _enum_names(s.BuiltinOperator), _enum_names(s.TensorType)
        codes = [(code.customCode.decode() if code.customCode else None,
                  builtins.get(max(code.builtinCode, code.deprecatedBuiltinCode), "UNKNOWN"))
                 for code in model.operatorCodes or []]
        buffers = model.buffers or []
        graph = model.subgraphs[0]
        tensors = [_tensor(i, t, buffers, raw, types) for i, t in enumerate(graph.tensors or [])]
        operators = []
        for i, op in enumerate(graph.operators or []):
            custom, builtin = codes[op.opcodeIndex]
            operators.append(Operator(
                i, custom if builtin == "CUSTOM" and custom else builtin,
                tuple(int(t) for t in (op.inputs if op.inputs is not None else ())),
                tuple(int(t) for t in (op.outputs if op.outputs is not None else ())),
                _options(op, enums), custom=builtin == "CUSTOM"))
        metadata = {}
        for entry in model.metadata or []:
            data = _buffer_bytes(buffers[entry.buffer], raw) if entry.buffer < len(buffers) else None
            metadata[entry.name.decode(errors="replace")] = data or b""
        description = model.description.decode(errors="replace") if model.description else ""
        return TFLiteGraph(path, description, operators, tensors,
                           tuple(int(i) for i in graph.inputs), tuple(int(i) for i in graph.outputs),
                           metadata, _associated_files(raw), len(model.subgraphs))
    except UnsupportedTensor as error:
        raise ValueError(f"{path}: {error}") from None
    except Exception as error:  # truncated or corrupt flatbuffers fail in many ways (struct, index, numpy)
        raise ValueError(f"cannot read {path} as a TensorFlow Lite file ({type(error).__name__}: "
                         f"{str(error)[:160]}); is the file complete?") from None


def read_graph(path: str | Path) -> TFLiteGraph:
    """The graph of the ``.tflite`` file at ``path``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"TensorFlow Lite file {str(path)!r} not found")
    return parse_graph(path.read_bytes(), path)
