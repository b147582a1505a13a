"""TF DeepLab's Mobile DeepLabv3 in TensorFlow Lite (the Coral ``deeplabv3_mnv2_*`` files) into our segmenters.

The graph is matched by structure, like the classifiers (``tflite.py``): our ``deeplabv3_mobilenet_v2``
at the file's width, built as TF DeepLab builds it (channels rounded with ``divisible_by=1`` below
width 1.0, output stride 16 by dilating the layers after the last dropped stride, no 1280 conv: V2
§6.3's "MNet V2*", TF "SAME" padding), is walked with the graph: stem and blocks, then the R-ASPP
head (image pooling: a full-size average pool, 1x1 conv + ReLU, resized back; a parallel 1x1 conv
+ ReLU; concatenated pooling first; a 1x1 projection + ReLU; the 1x1 logits), then the resizes to
the input (``align_corners``) and the arg-max. Our model returns the logits; the file's arg-max
is their ``argmax(1)`` (``export_form(postprocess=True)``).
"""

from __future__ import annotations

from typing import Any

import torch

from mobilenet.weights.labels import class_names as label_set
from mobilenet.weights.tflite import OPTIONS, TFLiteImport, _Filler, preprocessing
from mobilenet.weights.tflite_graph import Operator, TFLiteGraph
from mobilenet.weights.tflite_match import GraphMismatch, GraphWalker, Layer

MODEL = "deeplabv3_mobilenet_v2"


def is_segmenter(graph: TFLiteGraph) -> bool:
    """A graph whose one output is a per-pixel arg-max (N, H, W) of an image input."""
    if len(graph.outputs) != 1 or len(graph.inputs) != 1:
        return False
    producer = graph.producer(graph.outputs[0])
    return producer is not None and producer.type == "ARG_MAX" and len(graph.tensors[graph.outputs[0]].shape) == 3


def _resize(walker: GraphWalker, tensor: int, what: str, align_corners: bool) -> Operator:
    op = walker.next_op(walker.through(tensor), ("RESIZE_BILINEAR",), f"{what}: a bilinear resize")
    if bool(op.options.get("align_corners")) != align_corners or op.options.get("half_pixel_centers"):
        walker.fail(op, f"{what}: a bilinear resize with align_corners={align_corners}", walker.graph.describe(op))
    return op


def _concatenate(walker: GraphWalker, tensors: list[int], what: str) -> int:
    op = walker.next_op(walker.through(tensors[0]), ("CONCATENATION",), f"{what}: a concatenation")
    graph = walker.graph
    if [walker.root(t) for t in op.inputs] != [walker.root(t) for t in tensors] or op.options.get("axis") not in (3, -1):
        walker.fail(op, f"{what}: the branches concatenated along channels in our order", graph.describe(op))
    return op.outputs[0]


def _classifier(filler: _Filler, tensor: int, name: str, conv: torch.nn.Conv2d) -> int:
    found = filler.walker.conv(tensor, Layer("conv", conv.in_channels, conv.out_channels, 1), name)
    filler.sources[name] = found.op.index
    filler.put(f"{name}.weight", found.weight)
    filler.put(f"{name}.bias", found.bias)
    return found.output


def _walk(filler: _Filler, model: Any) -> None:
    walker, backbone, head = filler.walker, model.backbone, model.head
    x = filler.conv(walker.start(), "backbone.stem", backbone.stem)
    for i, block in enumerate(backbone.blocks):
        x = filler.block(x, f"backbone.blocks.{i}", block)
    aspp = head.aspp
    pooled = walker.global_pool(x, "head.aspp.pool")
    branches = [filler.conv(x, f"head.aspp.branches.{i}", unit) for i, unit in enumerate(aspp.branches)]
    pooled = filler.conv(pooled, "head.aspp.pool.conv", aspp.pool.conv)
    pooled = _resize(walker, pooled, "head.aspp.pool", align_corners=True).outputs[0]
    joined = _concatenate(walker, [pooled, *branches] if aspp.pool_first else [*branches, pooled], "head.aspp")
    y = filler.conv(joined, "head.aspp.project", aspp.project)
    y = _classifier(filler, y, "head.classifier", head.classifier)
    size = tuple(walker.graph.tensors[walker.graph.inputs[0]].shape[1:3])
    while True:  # TF DeepLab resizes the logits (to the logits' own size first), then arg-max
        op = _resize(walker, y, "the logits", align_corners=model.align_corners)
        y = op.outputs[0]
        if tuple(walker.graph.tensors[y].shape[1:3]) == size:
            break
    argmax = walker.next_op(y, ("ARG_MAX",), "the per-pixel arg-max")
    if int(walker.graph.constant(argmax.inputs[1]).reshape(-1)[0]) % 4 != 3:
        walker.fail(argmax, "an arg-max over the classes (axis 3)", walker.graph.describe(argmax))
    walker.finish(argmax.outputs[0], "the arg-max")


def _candidates(graph: TFLiteGraph) -> list[dict[str, Any]]:
    stem = next(op for op in graph.operators if op.type == "CONV_2D")
    width = graph.tensors[stem.outputs[0]].shape[-1] / 32
    size = graph.tensors[graph.inputs[0]].shape[1]
    return [{"width_mult": width, "output_stride": stride, "aspp": aspp,
             "backbone": {**OPTIONS, "channel_divisor": divisor}, "resolution": size}
            for stride in (16, 8) for divisor in (1, 8) for aspp in (False, True)]


def import_segmenter(graph: TFLiteGraph) -> TFLiteImport:
    """Recognise and convert a TF DeepLab Mobile DeepLabv3 graph (see the module docstring)."""
    from mobilenet.models.registry import build_model

    num_classes = int(graph.tensors[graph.producer(graph.outputs[0]).inputs[0]].shape[-1])
    closest: GraphMismatch | None = None
    for options in _candidates(graph):
        try:
            model = build_model(MODEL, num_classes=num_classes, **options)
        except ValueError:
            continue
        filler = _Filler(model, GraphWalker(graph, f"{MODEL} ({options})"))
        try:
            _walk(filler, model)
        except GraphMismatch as mismatch:
            if closest is None or mismatch.progress > closest.progress:
                closest = mismatch
            continue
        labels = label_set("pascal_voc") if num_classes == 21 else []
        resolution = int(graph.tensors[graph.inputs[0]].shape[1])
        return TFLiteImport(model.config.to_dict(), filler.state, preprocessing(graph, resolution), labels, graph,
                            filler.sources)
    raise ValueError(f"{closest} (no Mobile DeepLabv3 on MobileNetV2 matches this graph)")
