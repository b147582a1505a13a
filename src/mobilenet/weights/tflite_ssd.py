"""TF Object Detection's SSD TFLite files (``TFLite_Detection_PostProcess``) into our trainable detectors.

The graph is matched by structure, as classifiers are (``mobilenet.weights.tflite``): each
registered SSD on V1, built at the file's input size and class count, is walked layer by layer
(backbone, the two taps, four extra layers, a box and a class predictor per map) while the
``GraphWalker`` consumes the graph's ops; the predictors' reshapes and concatenations, the score
function (``LOGISTIC``: sigmoid) and the post-processing op must follow. Where two predictors read
one map, the one with the expected output channels is taken.

What the file says becomes our model's config: the post-processing op's options (``use_regular_nms``
absent or false: class-agnostic "fast" NMS over each box's best class; IoU and score thresholds,
``max_detections``), its box scales (TF's y/x/h/w order; ours is x/y/w/h, so the box predictors'
output channels are permuted), and its constant anchors, which our generator must reproduce
(checked within the anchors' quantization step). Labels: the associated ``labelmap.txt``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from mobilenet.weights.tflite import OPTIONS, TFLiteImport, _Filler, labels, preprocessing
from mobilenet.weights.tflite_graph import Operator, TFLiteGraph, read_graph
from mobilenet.weights.tflite_match import GraphMismatch, GraphWalker, Layer

POSTPROCESS_OP = "TFLite_Detection_PostProcess"
_TF_TO_OURS = (1, 0, 3, 2)   # (ty, tx, th, tw) -> (tx, ty, tw, th)


def is_detector(graph: TFLiteGraph) -> bool:
    return any(op.type == POSTPROCESS_OP for op in graph.operators)


class _BranchWalker(GraphWalker):
    """A walker that, where several convs read one tensor, takes the one with the expected outputs."""

    def conv(self, tensor: int, expected: Layer, what: str) -> Any:
        others = [op for op in self._open(self.through(tensor)) if op.type == "CONV_2D"
                  and self.graph.tensors[op.inputs[1]].shape[0] != expected.out_channels]
        hidden = {op.index for op in others} - self.used
        self.used |= hidden
        try:
            return super().conv(tensor, expected, what)
        finally:
            self.used -= hidden

    def take(self, op: Operator) -> Operator:
        return self._take(op)


def _postprocess_op(graph: TFLiteGraph) -> Operator:
    ops = [op for op in graph.operators if op.type == POSTPROCESS_OP]
    if len(ops) != 1:
        raise ValueError(f"{graph.path}: expected one {POSTPROCESS_OP} op, found {len(ops)}")
    return ops[0]


def head_options(op: Operator, score_fn: str) -> dict[str, Any]:
    """Our post-processing options from the custom op's (regular NMS: per class, else class-agnostic)."""
    options = op.options
    scales = tuple(float(options.get(k, d)) for k, d in (("x_scale", 10), ("y_scale", 10), ("w_scale", 5),
                                                          ("h_scale", 5)))
    if scales != (10.0, 10.0, 5.0, 5.0):
        raise ValueError(f"the file decodes boxes with scales x/y/w/h {scales}; our SSDs use (10, 10, 5, 5)")
    if int(options.get("max_classes_per_detection", 1)) != 1:
        raise ValueError("the file keeps several classes per box (max_classes_per_detection > 1), which our "
                         "post-processing does not do")
    regular = bool(options.get("use_regular_nms", False))
    return {"score_fn": score_fn, "nms": "per_class" if regular else "class_agnostic",
            "score_threshold": float(options["nms_score_threshold"]),
            "iou_threshold": round(float(options["nms_iou_threshold"]), 6),
            "max_detections": int(options["max_detections"]),
            "candidates": int(options.get("detections_per_class", 100)) if regular else 0}


def _candidates(graph: TFLiteGraph) -> list[tuple[str, dict[str, Any]]]:
    from mobilenet.models.registry import MODELS

    names = [n for n, e in MODELS.items() if e.task == "detection" and e.backbone and
             e.backbone.startswith("mobilenet_v1")]
    return [(n, {}) for n in names] + [("ssd_mobilenet_v1", {"width_mult": w}) for w in (0.5, 0.25)]


class _SSDFiller(_Filler):
    def predictor(self, tensor: int, name: str, predictor: torch.nn.Module, per_box: int) -> int:
        """A predictor conv, then its reshape to (1, boxes, [1,] per_box); the reshaped tensor."""
        if not isinstance(predictor.depthwise, torch.nn.Identity):
            tensor = self.conv(tensor, f"{name}.depthwise", predictor.depthwise)
        conv = predictor.conv
        layer = Layer("conv", conv.in_channels, conv.out_channels, conv.kernel_size[0])
        found = self.walker.conv(tensor, layer, name)
        self.sources[f"{name}.conv"] = found.op.index
        weight, bias = found.weight, found.bias
        if per_box == 4:  # TF's box codes are (ty, tx, th, tw)
            order = [a * 4 + j for a in range(conv.out_channels // 4) for j in _TF_TO_OURS]
            weight, bias = weight[order], bias[order]
        self.put(f"{name}.conv.weight", weight)
        self.put(f"{name}.conv.bias", bias)
        reshape = self.walker.next_op(found.output, ("RESHAPE",), f"{name}: a reshape to (1, boxes, {per_box})")
        if self.walker.graph.tensors[reshape.outputs[0]].shape[-1] != per_box:
            self.walker.fail(reshape, f"{name}: a reshape to (1, boxes, {per_box})", self.walker.graph.describe(reshape))
        return reshape.outputs[0]

    def _joined(self, parts: list[int], what: str) -> int:
        """The concatenation of ``parts`` along the boxes (then any reshape); its output."""
        concat = self.walker.next_op(parts[0], ("CONCATENATION",), f"{what}: the concatenation of the maps")
        if [i for i in concat.inputs] != parts:
            self.walker.fail(concat, f"{what}: the maps' predictions concatenated in order",
                             self.walker.graph.describe(concat))
        out = concat.outputs[0]
        following = self.walker._open(out)
        if len(following) == 1 and following[0].type == "RESHAPE":
            out = self.walker.take(following[0]).outputs[0]
        return out

    def detector(self) -> tuple[str, Operator]:
        """Walk the whole graph; the score function and the post-processing op."""
        model = self.model
        backbone = model.backbone
        taps = {info.module for info in backbone.feature_info()}
        x = self.conv(self.walker.start(), "backbone.stem", backbone.stem)
        maps = []
        for i, block in enumerate(backbone.blocks):
            x = self.block(x, f"backbone.blocks.{i}", block)
            if f"blocks.{i}" in taps:
                maps.append(x)
        if len(maps) != 2 or any(info.location != "block" for info in backbone.feature_info()):
            raise ValueError("only SSDs with block taps (TF Object Detection's SSD MobileNetV1) are mapped")
        for i, extra in enumerate(model.extras):
            y = self.conv(maps[-1], f"extras.{i}.reduce", extra.reduce)
            y = self.conv(y, f"extras.{i}.spatial", extra.spatial)
            if not isinstance(extra.project, torch.nn.Identity):
                y = self.conv(y, f"extras.{i}.project", extra.project)
            maps.append(y)
        boxes, scores = [], []
        for i, tensor in enumerate(maps):
            boxes.append(self.predictor(tensor, f"box_head.{i}", model.box_head[i], 4))
            scores.append(self.predictor(tensor, f"class_head.{i}", model.class_head[i], model.num_classes + 1))
        box_codes = self._joined(boxes, "box codes")
        logits = self._joined(scores, "class scores")
        score = self.walker.next_op(logits, ("LOGISTIC", "SOFTMAX"), "the score function (LOGISTIC or SOFTMAX)")
        post = self.walker.next_op(score.outputs[0], (POSTPROCESS_OP,), f"the {POSTPROCESS_OP} op")
        if post.inputs[0] != box_codes:
            self.walker.fail(post, "box codes as the post-processing's first input", self.walker.graph.describe(post))
        for op in self.walker.graph.operators:
            if op.index not in self.walker.used:
                self.walker.fail(op, "no further operators", self.walker.graph.describe(op))
        return ("sigmoid" if score.type == "LOGISTIC" else "softmax"), post


def _check_anchors(graph: TFLiteGraph, post: Operator, model: Any, resolution: int) -> None:
    """The file's anchors (ycenter, xcenter, h, w) must be ours, within their quantization step."""
    theirs = graph.constant(post.inputs[2])[:, [1, 0, 3, 2]]
    with torch.no_grad():
        _, _, grid = model.eval()._predict(torch.zeros(1, 3, resolution, resolution))
    anchors = model.anchors(grid, (resolution, resolution))
    q = graph.tensors[post.inputs[2]].quantization
    step = float(q.scale.max()) if q is not None else 1e-6
    if anchors.shape != theirs.shape or np.abs(anchors.numpy() - theirs).max() > step / 2 + 1e-6:
        worst = np.abs(anchors.numpy() - theirs).max() if anchors.shape == theirs.shape else float("inf")
        raise ValueError(f"{graph.path}: the file's {theirs.shape[0]} anchors differ from {model.spec.name}'s "
                         f"{anchors.shape[0]} (largest difference {worst:.4f}, allowed {step / 2:.4f})")


def import_detector(path: str | os.PathLike[str]) -> TFLiteImport:
    """Recognise and convert a TFLite SSD file (see the module docstring)."""
    from mobilenet.models.registry import build_model

    graph = read_graph(path) if not isinstance(path, TFLiteGraph) else path
    post = _postprocess_op(graph)
    shape = graph.tensors[graph.inputs[0]].shape
    if len(shape) != 4 or shape[1] != shape[2]:
        raise ValueError(f"{graph.path}: the input has shape {list(shape)}; SSDs take one square image")
    resolution, channels = int(shape[1]), int(shape[3])
    logits = graph.tensors[post.inputs[1]].shape
    num_classes = int(logits[-1]) - 1
    if num_classes != int(post.options.get("num_classes", num_classes)):
        raise ValueError(f"{graph.path}: {logits[-1]} scores per box but num_classes={post.options['num_classes']}; "
                         "only a background column plus the classes is understood")
    closest: GraphMismatch | None = None
    for name, extra in _candidates(graph):
        options = {"resolution": resolution, "num_classes": num_classes, **extra,
                   "backbone": {**OPTIONS, "in_chans": channels}}
        try:
            model = build_model(name, **options)
        except ValueError:
            continue
        filler = _SSDFiller(model, _BranchWalker(graph, name + "".join(f" ({k}={v})" for k, v in extra.items())))
        try:
            score_fn, post = filler.detector()
        except GraphMismatch as mismatch:
            if closest is None or mismatch.progress > closest.progress:
                closest = mismatch
            continue
        model = build_model(name, **options, **head_options(post, score_fn))
        model.load_state_dict(filler.state, strict=True)
        _check_anchors(graph, post, model, resolution)
        return TFLiteImport(model.config.to_dict(), filler.state, preprocessing(graph, resolution),
                            labels(graph, num_classes), graph, filler.sources)
    detail = str(closest) if closest else f"no registered SSD takes a {resolution}x{resolution} input"
    raise ValueError(f"{detail} (no SSD MobileNet matches this graph)")
