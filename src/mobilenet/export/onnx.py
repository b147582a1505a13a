"""ONNX export: a validated, self-describing file, written atomically.

Opset >= 14 has ``HardSwish`` and ``HardSigmoid`` as single ops, so V3's activations stay one node
each instead of the Add/Clip/Div chains of older opsets (pytorch/pytorch#58301). BN is folded
before export (``fuse.fold_batch_norm``). The preprocessing and class names go into the file's
``metadata_props``, so a runtime can feed it correctly without this package.
"""

from __future__ import annotations

import collections
import contextlib
import inspect
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mobilenet.export.fuse import fold_batch_norm
from mobilenet.export.images import list_images, load_images
from mobilenet.extras import require
from mobilenet.files import atomic_path, temporary_directory
from mobilenet.sources import ModelSource
from mobilenet.export.signature import (  # noqa: F401  (ExportCheckError, output_names: imported from here too)
    ExportCheckError, as_list, compare_outputs, export_module, metadata_record, output_names)

onnx = require("onnx", "ONNX export")
ort = require("onnxruntime", "ONNX export")

DEFAULT_OPSET = 18
MIN_OPSET = 14  # first opset with HardSwish
TOLERANCE = 1e-4
EXPORTERS = ("dynamo", "torchscript")


def load_onnx(path: str | Path) -> onnx.ModelProto:
    """Read an ONNX file; a clear error when it is missing, truncated or not ONNX."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as error:  # protobuf DecodeError, checker ValidationError, ...
        raise ValueError(
            f"{str(path)!r} is not a valid ONNX model (truncated or corrupt?): {str(error).splitlines()[0][:160]}; "
            "re-export it with `mobilenet export`"
        ) from None
    if not model.graph.node:
        raise ValueError(f"{str(path)!r} holds an empty ONNX graph (truncated?); re-export it with `mobilenet export`")
    return model


def make_session(path: str | Path, threads: int | None = None) -> ort.InferenceSession:
    """An onnxruntime CPU session with all graph optimisations; ``threads`` intra-op threads."""
    load_onnx(path)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:
        raise ValueError(f"onnxruntime cannot load {str(path)!r}: {str(error)[:200]}") from None


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Our metadata of an exported file: ``preprocessing``, ``class_names``, ``config`` ... (JSON decoded)."""
    props = {p.key: p.value for p in load_onnx(path).metadata_props}
    out: dict[str, Any] = {}
    for key, value in props.items():
        if key.startswith("mobilenet."):
            out[key.removeprefix("mobilenet.")] = json.loads(value)
    return out


def _global_pools(model: onnx.ModelProto) -> None:
    """ReduceMean over H, W with keepdims -> GlobalAveragePool, which onnxruntime quantizes.

    The dynamo exporter writes ``AdaptiveAvgPool2d(1)`` as ReduceMean; a static QDQ model would
    then leave every SE pool in float (litert-torch PR #1150 saw the same with SUM/MUL).
    """
    constants = {init.name: onnx.numpy_helper.to_array(init) for init in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "ReduceMean":
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        axes = attrs.get("axes")
        if axes is None and len(node.input) > 1:
            axes = constants.get(node.input[1])
        if attrs.get("keepdims", 1) != 1 or axes is None or sorted(int(a) % 4 for a in np.ravel(axes)) != [2, 3]:
            continue
        node.op_type = "GlobalAveragePool"
        del node.input[1:]
        del node.attribute[:]
    used = {name for node in model.graph.node for name in node.input}
    unused = [init for init in model.graph.initializer if init.name not in used]
    for init in unused:
        model.graph.initializer.remove(init)


def _torch_to_onnx(model: torch.nn.Module, example: torch.Tensor, path: Path, opset: int,
                   dynamic_batch: bool, exporter: str) -> None:
    outputs = output_names(model)
    names = {"input_names": ["input"], "output_names": outputs}
    if exporter == "dynamo":
        require("onnxscript", "the dynamo ONNX exporter")
        argument = next(iter(inspect.signature(model.forward).parameters))
        shapes = {argument: {0: torch.export.Dim("batch", min=1, max=4096)}} if dynamic_batch else None
        with contextlib.redirect_stdout(io.StringIO()):  # the exporter prints its progress
            program = torch.onnx.export(model, (example,), None, opset_version=opset, dynamo=True,
                                        dynamic_shapes=shapes, optimize=True, verbose=False, **names)
        program.save(str(path))
    else:
        axes = {name: {0: "batch"} for name in ["input", *outputs]} if dynamic_batch else None
        torch.onnx.export(model, (example,), str(path), opset_version=opset, dynamo=False,
                          dynamic_axes=axes, do_constant_folding=True, **names)


@dataclass
class ExportReport:
    """What was written and how well it matches PyTorch."""

    path: str
    opset: int
    batch: str
    resolution: int
    size_bytes: int
    diff_random: float
    diff_real: float | None
    real_images: int
    ops: dict[str, int] = field(default_factory=dict)


def compare(session: ort.InferenceSession, model: torch.nn.Module, x: torch.Tensor) -> float:
    """Max abs difference of onnxruntime and PyTorch on ``x``, over every output in order
    (``signature.compare_outputs``: integer outputs count the elements that differ)."""
    with torch.no_grad():
        expected = [t.numpy() for t in as_list(model(x))]
    names = [o.name for o in session.get_outputs()]
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    if len(got) != len(expected):
        raise ExportCheckError(f"the exported file has {len(got)} outputs ({', '.join(names)}), the model "
                               f"{len(expected)}")
    return compare_outputs(dict(zip(names, got)), dict(zip(names, expected)), "onnxruntime")


def metadata_for(source: ModelSource, extra: dict[str, Any] | None = None) -> dict[str, str]:
    """The ``metadata_props`` of an exported model (values JSON-encoded)."""
    return {f"mobilenet.{key}": json.dumps(value) for key, value in metadata_record(source, extra).items()}


def set_metadata(model: onnx.ModelProto, props: dict[str, str]) -> None:
    existing = {p.key: p for p in model.metadata_props}
    for key, value in props.items():
        if key in existing:
            existing[key].value = value
        else:
            model.metadata_props.add(key=key, value=value)


def export_onnx(source: ModelSource, path: str | Path, batch: str | int = "dynamic", resolution: int | None = None,
                opset: int = DEFAULT_OPSET, check_images: str | Path | None = None, check_limit: int = 8,
                tolerance: float = TOLERANCE, exporter: str = "dynamo", postprocess: bool = False) -> ExportReport:
    """Export ``source`` to ``path``: fold BN, export, check, compare with PyTorch, then move into place.

    ``batch``: "dynamic" or a fixed batch size. ``check_images``: a file or folder of real images to
    compare on besides random inputs (``check_limit`` of them). ``postprocess``: task models with
    post-processing (a detector's box decoding and NMS) export it inside the file.
    """
    if opset < MIN_OPSET:
        raise ValueError(f"opset {opset} has no HardSwish op; use opset {MIN_OPSET} or higher")
    append = getattr(source.model, "append_postprocess", None) if postprocess else None
    if append is not None:  # the network is checked here; the post-processing graph by the task model
        with temporary_directory("network") as work:
            report = export_onnx(source, Path(work) / "network.onnx", batch, resolution, opset, check_images,
                                 check_limit, tolerance, exporter, postprocess=False)
            append(Path(work) / "network.onnx", path, report.resolution, opset, exporter)
        graph = onnx.load(str(path))
        report.path, report.size_bytes = str(path), Path(path).stat().st_size
        report.ops = dict(collections.Counter(node.op_type for node in graph.graph.node))
        return report
    if exporter not in EXPORTERS:
        raise ValueError(f"unknown exporter {exporter!r}; valid: {', '.join(EXPORTERS)}")
    dynamic = batch == "dynamic"
    if not dynamic:
        try:
            batch = int(batch)
        except (TypeError, ValueError):
            raise ValueError(f"batch must be 'dynamic' or a positive integer, got {batch!r}") from None
        if batch < 1:
            raise ValueError(f"batch must be 'dynamic' or a positive integer, got {batch!r}")
    source = source.at_resolution(resolution or source.resolution)
    pre, resolution = source.preprocessing, source.resolution
    channels = int(getattr(source.model, "in_chans", 3))
    real = load_images(list_images(check_images, "check-images folder")[:check_limit], pre) \
        if check_images and channels == 3 else None

    model = export_module(fold_batch_norm(source.model), postprocess)
    example_batch = 2 if dynamic else int(batch)
    generator = torch.Generator().manual_seed(0)
    random_input = torch.randn(example_batch, channels, resolution, resolution, generator=generator)
    with atomic_path(path) as temp:
        _torch_to_onnx(model, random_input, temp, opset, dynamic, exporter)
        graph = onnx.load(str(temp))
        _global_pools(graph)
        set_metadata(graph, metadata_for(source, {"opset": opset, "batch": str(batch), "postprocess": postprocess}))
        onnx.save(graph, str(temp))
        onnx.checker.check_model(str(temp), full_check=True)
        session = make_session(temp)
        reference = export_module(source.model, postprocess).eval()
        diff_random = compare(session, reference, random_input)
        diff_real = None
        if real is not None:
            feed = real if dynamic else real[:example_batch].repeat(example_batch, 1, 1, 1)[:example_batch]
            diff_real = compare(session, reference, feed)
        worst = max(diff_random, diff_real or 0.0)
        if not worst <= tolerance:
            raise ExportCheckError(
                f"onnxruntime output differs from PyTorch by {worst:.2e} (> {tolerance:.0e}); file not written"
            )
        ops = dict(collections.Counter(node.op_type for node in graph.graph.node))
    return ExportReport(str(path), opset, str(batch), resolution, Path(path).stat().st_size, diff_random,
                        diff_real, 0 if real is None else len(real), ops)


class OnnxModel(torch.nn.Module):
    """An exported file run by onnxruntime behind PyTorch's module interface, so ``eval`` and
    ``predict`` treat it like the model it came from: ``forward`` returns its outputs as tensors
    (one tensor, or a tuple in ``output_names`` order); a fixed-batch file is fed in slices."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        super().__init__()
        self.path = str(path)
        self.metadata = read_metadata(path)
        self.session = make_session(path, threads)
        self.input_name = self.session.get_inputs()[0].name
        fixed = self.session.get_inputs()[0].shape[0]
        self.fixed_batch = fixed if isinstance(fixed, int) else None
        self.output_names = [o.name for o in self.session.get_outputs()]

    def forward(self, x: torch.Tensor) -> Any:
        batch = x.detach().cpu().numpy().astype(np.float32)
        if self.fixed_batch is None:
            outputs = self.session.run(None, {self.input_name: batch})
        else:
            parts = []
            for start in range(0, len(batch), self.fixed_batch):
                chunk = batch[start:start + self.fixed_batch]
                padded = np.concatenate([chunk, np.repeat(chunk[-1:], self.fixed_batch - len(chunk), 0)]) \
                    if len(chunk) < self.fixed_batch else chunk
                parts.append([o[:len(chunk)] for o in self.session.run(None, {self.input_name: padded})])
            outputs = [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]
        tensors = tuple(torch.from_numpy(np.asarray(o)) for o in outputs)
        return tensors[0] if len(tensors) == 1 else tensors
