"""TensorFlow Lite MobileNet classifiers (TF-slim, Coral, Keras conversions) into our trainable models.

The graph (``tflite_graph``) is matched by structure, never by tensor names: each registered
V1, V2 and V3 architecture at its width, built at the file's input size with its number of
classes, is walked module by module (stem, blocks, last conv, pooling, head) while a
``GraphWalker`` consumes the graph's ops; the first architecture that accounts for every op is
the file's. Otherwise the error names the first op where the closest architecture differs.

TFLite convs hold batch norm folded into weight and bias. Our ``ConvNormAct`` gets the weight,
and its BN becomes identity-plus-bias (weight 1, running mean 0, running variance ``1 - eps``,
bias ``b``), so the result is an ordinary model that trains like any other. TF-trained weights
need TF "SAME" padding; BN epsilon is TF's 1e-3.

Preprocessing comes from the input tensor: uint8 pixels with ``real = (q - zero_point) * scale``
are, on [0, 1] pixels, ``mean = zero_point / 255`` and ``std = 1 / (255 * scale)`` (int8 inputs
are pixels - 128); float inputs are assumed to take TF's [-1, 1]. Images are squashed to the
input size with bilinear resizing without antialiasing (TF's ``resize_bilinear``, which LiteRT's
image pipelines use). Labels: an associated file with one line per class, else ImageNet's for
1000 or 1001 (background first) classes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mobilenet.blocks import DepthwiseSeparable, InvertedResidual
from mobilenet.layers.conv import ConvNormAct
from mobilenet.weights.labels import class_names as label_set
from mobilenet.data.preprocessing import SIGNED_UNIT, Preprocessing
from mobilenet.weights.tflite_graph import TFLiteGraph, read_graph
from mobilenet.weights.tflite_match import Found, GraphMismatch, GraphWalker, Layer

FAMILIES = ("mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small")
OPTIONS = {"padding": "tf_same", "bn_eps": 1e-3}
_ACTIVATIONS = {nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Hardswish: "hswish", nn.Hardsigmoid: "hsigmoid",
                nn.Identity: "linear"}


@dataclass
class TFLiteImport:
    """What a ``.tflite`` classifier becomes: our model config, state dict, preprocessing, labels."""

    model_config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    preprocessing: dict[str, Any]
    class_names: list[str]
    graph: TFLiteGraph
    sources: dict[str, int]
    """Each of our conv/linear modules -> the index of the graph op it was filled from."""


def _act(module: nn.Module) -> str:
    return _ACTIVATIONS.get(type(module), type(module).__name__)


def _conv_layer(unit: ConvNormAct) -> Layer:
    conv = unit.conv
    depthwise = conv.groups > 1 and conv.groups == conv.in_channels
    return Layer("depthwise" if depthwise else "conv", conv.in_channels, conv.out_channels, conv.kernel_size[0],
                 conv.stride[0], conv.dilation[0], _act(unit.act))


class _Filler:
    """Walks one of our models and the graph together, collecting our state dict."""

    def __init__(self, model: nn.Module, walker: GraphWalker) -> None:
        self.model, self.walker = model, walker
        self.state: dict[str, torch.Tensor] = {}
        self.sources: dict[str, int] = {}
        """Our module -> the index of the graph op its weights come from."""

    def put(self, name: str, value: np.ndarray) -> None:
        target = self.model.get_parameter(name) if name.endswith(("weight", "bias")) else None
        tensor = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
        self.state[name] = tensor.reshape(target.shape) if target is not None else tensor

    def conv(self, tensor: int, name: str, unit: ConvNormAct) -> int:
        found = self.walker.conv(tensor, _conv_layer(unit), name)
        self.sources[name] = found.op.index
        self.put(f"{name}.conv.weight", found.weight)
        # Folded BN -> identity plus bias: (x - 0) / sqrt((1 - eps) + eps) * 1 + b.
        eps = unit.bn.eps
        self.put(f"{name}.bn.weight", np.ones_like(found.bias))
        self.put(f"{name}.bn.bias", found.bias)
        self.state[f"{name}.bn.running_mean"] = torch.zeros(found.bias.shape)
        self.state[f"{name}.bn.running_var"] = torch.full(found.bias.shape, 1.0 - eps)
        self.state[f"{name}.bn.num_batches_tracked"] = torch.tensor(0)
        return found.output

    def dense(self, tensor: int, name: str, module: nn.Module, act: str) -> int:
        out_channels, in_channels = module.weight.shape[:2]
        found: Found = self.walker.dense(tensor, Layer("dense", in_channels, out_channels, act=act), name)
        self.sources[name] = found.op.index
        self.put(f"{name}.weight", found.weight)
        if module.bias is not None:
            self.put(f"{name}.bias", found.bias)
        elif np.any(found.bias):
            self.walker.fail(found.op, f"{name} without bias", "a bias")
        return found.output

    def block(self, tensor: int, name: str, block: nn.Module) -> int:
        if isinstance(block, DepthwiseSeparable):
            return self.conv(self.conv(tensor, f"{name}.depthwise", block.depthwise), f"{name}.pointwise",
                             block.pointwise)
        if not isinstance(block, InvertedResidual):
            raise ValueError(f"{type(block).__name__} blocks have no TFLite mapping")
        x = tensor if isinstance(block.expand, nn.Identity) else self.conv(tensor, f"{name}.expand", block.expand)
        x = self.conv(x, f"{name}.depthwise", block.depthwise)
        if not isinstance(block.se, nn.Identity):
            pooled = self.walker.global_pool(x, f"{name}.se")
            squeezed = self.dense(pooled, f"{name}.se.reduce", block.se.reduce, _act(block.se.act))
            excited = self.dense(squeezed, f"{name}.se.expand", block.se.expand, "linear")
            gate = self.walker.hard_sigmoid(excited) if _act(block.se.gate) == "hsigmoid" else None
            if gate is None:
                self.walker.fail_after(excited, f"{name}.se: a hard-sigmoid gate")
            x = self.walker.multiply(x, gate, f"{name}.se")
        x = self.conv(x, f"{name}.project", block.project)
        return self.walker.add(x, tensor, name) if block.use_residual else x

    def classifier(self) -> None:
        model = self.model
        x = self.conv(self.walker.start(), "stem", model.stem)
        for i, block in enumerate(model.blocks):
            x = self.block(x, f"blocks.{i}", block)
        if not isinstance(model.last_conv, nn.Identity):
            x = self.conv(x, "last_conv", model.last_conv)
        x = self.walker.global_pool(x, "pool")
        if not isinstance(model.head_conv, nn.Identity):
            x = self.dense(x, "head_conv", model.head_conv, _act(model.head_act))
        x = self.dense(x, "classifier", model.classifier, "linear")
        self.walker.finish(x, "the classifier's output")


def _candidates(graph: TFLiteGraph) -> list[tuple[str, dict[str, Any]]]:
    """Registered V1-V3 names (and V3's fixed-stem variants), likeliest family first."""
    from mobilenet.models.registry import get_entry, list_models

    types = {op.type for op in graph.operators}
    family = "mobilenet_v3" if types & {"HARD_SWISH", "MUL"} else "mobilenet_v2" if "ADD" in types else "mobilenet_v1"
    names = [n for f in FAMILIES for n in list_models(f + "*")]
    names.sort(key=lambda n: not n.startswith(family))
    return [(n, {}) for n in names] + [(n, {"fixed_stem": True}) for n in names
                                        if n.startswith("mobilenet_v3") and get_entry(n).width_mult < 0.75]


def _input_shape(graph: TFLiteGraph) -> tuple[int, int]:
    """(resolution, channels) of the input; a ValueError for non-square or non-image inputs."""
    shape = graph.tensors[graph.inputs[0]].shape if len(graph.inputs) == 1 else ()
    if len(shape) != 4 or shape[1] != shape[2] or shape[1] < 1:
        raise ValueError(f"{graph.path}: the input has shape {list(shape)}; MobileNet classifiers take one "
                         "square image (1, size, size, channels)")
    return shape[1], shape[3]


def _num_classes(graph: TFLiteGraph) -> int:
    shape = graph.tensors[graph.outputs[0]].shape if len(graph.outputs) == 1 else ()
    if len(shape) not in (2, 4) or any(d != 1 for d in shape[:-1]):
        last = graph.operators[-1].type if graph.operators else "none"
        raise ValueError(f"{graph.path} is no classifier: its outputs have shapes "
                         f"{[list(graph.tensors[i].shape) for i in graph.outputs]}, not one (1, classes), "
                         f"and its last op is {last}; only MobileNet V1-V3 classifiers import so far")
    return int(shape[-1])


OUR_METADATA = "mobilenet"
"""The metadata entry ``mobilenet export --format tflite`` writes: our JSON record (preprocessing,
class names, config), which wins over what the input tensor implies."""


def our_record(graph: TFLiteGraph) -> dict[str, Any]:
    """The record of a file we exported (empty for other files)."""
    raw = graph.metadata.get(OUR_METADATA)
    try:
        record = json.loads(raw.decode()) if raw else {}
    except (UnicodeDecodeError, ValueError):
        raise ValueError(f"{graph.path} has a corrupt {OUR_METADATA!r} metadata entry; re-export it") from None
    return record if isinstance(record, dict) else {}


def preprocessing(graph: TFLiteGraph, resolution: int) -> dict[str, Any]:
    """Our preprocessing record for the graph's input (see the module docstring)."""
    ours = our_record(graph).get("preprocessing")
    if ours:
        return Preprocessing.from_dict(ours).at_resolution(resolution).to_dict()
    tensor = graph.tensors[graph.inputs[0]]
    q = tensor.quantization
    if tensor.dtype in ("UINT8", "INT8") and q is not None and q.scale.size == 1:
        offset = 128 if tensor.dtype == "INT8" else 0   # int8 inputs are pixels - 128
        mean = (float(q.zero_point[0]) + offset) / 255.0
        std = 1.0 / (255.0 * float(q.scale[0]))
        mean_std = ((mean,) * 3, (std,) * 3)
    elif tensor.dtype == "UINT8":
        mean_std = ((0.0,) * 3, (1 / 255.0,) * 3)        # raw pixels
    else:
        mean_std = (SIGNED_UNIT, SIGNED_UNIT)
    pre = Preprocessing(resolution, crop_pct=1.0, resize_mode="squash", interpolation="bilinear",
                        mean=mean_std[0], std=mean_std[1], antialias=False)
    return pre.to_dict()


def labels(graph: TFLiteGraph, num_classes: int) -> list[str]:
    """Class names from our metadata, an associated text file with one line per class, else by class count."""
    ours = our_record(graph).get("class_names")
    if ours and len(ours) == num_classes:
        return list(ours)
    for name, data in sorted(graph.associated_files.items()):
        if name.endswith(".txt"):
            lines = data.decode("utf-8", errors="replace").splitlines()
            while lines and not lines[-1].strip():
                lines.pop()
            if len(lines) == num_classes:
                return [line.strip() for line in lines]
    known = {1000: "imagenet1k", 1001: "imagenet1k+background"}.get(num_classes)
    return label_set(known) if known else []


def import_classifier(path: str | os.PathLike[str] | TFLiteGraph) -> TFLiteImport:
    """Recognise and convert a ``.tflite`` MobileNet classifier (see the module docstring)."""
    from mobilenet.models.registry import build_model

    graph = path if isinstance(path, TFLiteGraph) else read_graph(path)
    resolution, channels = _input_shape(graph)
    num_classes = _num_classes(graph)
    closest: GraphMismatch | None = None
    for name, extra in _candidates(graph):
        options = {**OPTIONS, **extra, "resolution": resolution, "num_classes": num_classes, "in_chans": channels}
        try:
            model = build_model(name, **options)
        except ValueError:   # e.g. an input too small for this architecture
            continue
        filler = _Filler(model, GraphWalker(graph, name + "".join(f" ({k})" for k in extra)))
        try:
            filler.classifier()
        except GraphMismatch as mismatch:
            if closest is None or mismatch.progress > closest.progress:
                closest = mismatch
            continue
        return TFLiteImport(model.config.to_dict(), filler.state, preprocessing(graph, resolution),
                            labels(graph, num_classes), graph, filler.sources)
    detail = str(closest) if closest else f"no MobileNet V1-V3 takes a {resolution}x{resolution} input"
    raise ValueError(f"{detail} (no MobileNet V1-V3 classifier matches this graph)")


def read_tflite(path: str | os.PathLike[str]) -> Any:
    """A ``.tflite`` classifier, SSD detector (``tflite_ssd``) or TF DeepLab segmenter (``tflite_deeplab``) as
    ``mobilenet.weights.loading.LoadedFile`` of kind ``tflite``."""
    from mobilenet.weights.loading import LoadedFile  # late: loading imports this module lazily
    from mobilenet.weights.tflite_deeplab import import_segmenter, is_segmenter
    from mobilenet.weights.tflite_ssd import import_detector, is_detector

    graph = read_graph(path)
    if is_detector(graph):
        imported = import_detector(graph)
    elif is_segmenter(graph):
        imported = import_segmenter(graph)
    else:
        imported = import_classifier(graph)
    return LoadedFile("tflite", Path(path), imported.state_dict, imported.model_config, imported.preprocessing,
                      imported.class_names)
