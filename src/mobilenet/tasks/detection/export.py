"""A detector's post-processing as an ONNX graph of its own, appended to an exported network.

INT8 quantizes the network (box codes and class logits out); decoding, scores and NMS stay in
float, as TFLite's ``TFLite_Detection_PostProcess`` does. ``append_postprocess`` exports
``postprocess.detect`` with the anchors of the export resolution as constants (``torchvision.ops.nms``
becomes ``NonMaxSuppression``) and joins the two graphs with ``onnx.compose.merge_models``, so the
file has the same outputs as ``export_form(postprocess=True)``.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mobilenet.extras import require
from mobilenet.files import atomic_path, temporary_directory
from mobilenet.tasks.detection.postprocess import OUTPUT_NAMES, detect
from mobilenet.tasks.detection.specs import PostprocessSpec


class Postprocess(nn.Module):
    """``(box_codes, class_logits) -> detections`` with fixed anchors (one input size)."""

    def __init__(self, anchors: torch.Tensor, box_weights: tuple[float, ...], score_fn: str,
                 spec: PostprocessSpec) -> None:
        super().__init__()
        self.register_buffer("anchors", anchors.clone())
        self.box_weights, self.score_fn, self.spec = tuple(box_weights), score_fn, spec

    def forward(self, codes: torch.Tensor, logits: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return detect(codes, logits, self.anchors, self.box_weights, self.score_fn, self.spec)


def postprocess_for(model: nn.Module, resolution: int) -> Postprocess:
    """The post-processing of ``model`` (an SSD) for ``resolution`` x ``resolution`` inputs."""
    with torch.no_grad():
        _, _, anchors = model.eval().head_outputs(torch.zeros(1, model.in_chans, resolution, resolution))
    return Postprocess(anchors, model.spec.box_weights, model.score_fn, model.postprocess).eval()


def append_postprocess(model: nn.Module, network: str | Path, out_path: str | Path, resolution: int,
                       opset: int, exporter: str = "dynamo") -> None:
    """Write ``network`` (an ONNX file with outputs ``box_codes``, ``class_logits``) followed by the
    post-processing of ``model`` (exported by ``exporter``, "dynamo" or "torchscript") to ``out_path``;
    the network's metadata is kept."""
    onnx = require("onnx", "ONNX export")
    net = onnx.load(str(network))
    names = [o.name for o in net.graph.output]
    if names != ["box_codes", "class_logits"]:
        raise ValueError(f"{network}: outputs {names}, expected box_codes and class_logits (a detector's network)")
    batch = net.graph.input[0].type.tensor_type.shape.dim[0]
    dynamic = not batch.HasField("dim_value")
    post = postprocess_for(model, resolution)
    shapes = [tuple(d.dim_value for d in o.type.tensor_type.shape.dim) for o in net.graph.output]
    examples = tuple(torch.randn(2 if dynamic else batch.dim_value, *shape[1:]) for shape in shapes)
    names = {"input_names": ["box_codes", "class_logits"], "output_names": list(OUTPUT_NAMES)}
    with temporary_directory("postprocess") as work:
        path = Path(work) / "postprocess.onnx"
        if exporter == "dynamo":
            dims = {name: {0: torch.export.Dim("batch", min=1, max=4096)} for name in ("codes", "logits")} \
                if dynamic else None
            with contextlib.redirect_stdout(io.StringIO()):
                program = torch.onnx.export(post, examples, None, opset_version=opset, dynamo=True,
                                            dynamic_shapes=dims, optimize=True, verbose=False, **names)
            program.save(str(path))
        else:
            axes = {name: {0: "batch"} for name in names["input_names"]} if dynamic else None
            torch.onnx.export(post, examples, str(path), opset_version=opset, dynamo=False, dynamic_axes=axes, **names)
        tail = onnx.load(str(path))
        check_postprocess(model, post, path, resolution)
    tail.ir_version = net.ir_version
    merged = onnx.compose.merge_models(net, tail, io_map=[("box_codes", "box_codes"), ("class_logits", "class_logits")],
                                       prefix2="postprocess/")
    merged.graph.output.sort(key=lambda o: OUTPUT_NAMES.index(o.name.removeprefix("postprocess/")))
    for output in merged.graph.output:   # the names of the float file's outputs
        _rename(merged.graph, output.name, output.name.removeprefix("postprocess/"))
    changed = {"mobilenet.outputs": json.dumps(list(OUTPUT_NAMES)), "mobilenet.postprocess": "true"}
    del merged.metadata_props[:]
    for prop in net.metadata_props:   # the network's metadata, now describing detections
        merged.metadata_props.add(key=prop.key, value=changed.pop(prop.key, prop.value))
    for key, value in changed.items():
        merged.metadata_props.add(key=key, value=value)
    with atomic_path(out_path) as temp:
        onnx.save(merged, str(temp))
        onnx.checker.check_model(str(temp), full_check=True)


def check_postprocess(model: nn.Module, post: Postprocess, path: Path, resolution: int,
                      tolerance: float = 1e-4) -> float:
    """The post-processing graph at ``path`` against PyTorch on the network's own outputs for noise
    and smooth inputs (same inputs, so the same boxes compete); a ``ValueError`` beyond ``tolerance``.

    Detections are compared as sets (``same_detections``): scores equal to the last float bit
    (softmax in onnxruntime vs PyTorch) may come out in either order."""
    ort = require("onnxruntime", "ONNX export")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(2, model.in_chans, resolution, resolution, generator=generator)
    coarse = torch.rand(2, model.in_chans, 5, 5, generator=generator) * 2 - 1
    smooth = nn.functional.interpolate(coarse, size=(resolution, resolution), mode="bilinear", align_corners=False)
    worst = 0.0
    for x in (noise, smooth):
        with torch.no_grad():
            codes, logits = model.eval().forward_raw(x)
            expected = [t.numpy() for t in post(codes, logits)]
        got = session.run(None, {"box_codes": codes.numpy(), "class_logits": logits.numpy()})
        for name, a, b in zip(OUTPUT_NAMES, expected, got):
            if tuple(a.shape) != tuple(b.shape):
                raise ValueError(f"the post-processing graph's {name} has shape {b.shape}, PyTorch's {a.shape}")
        worst = max(worst, same_detections(expected, got, tolerance))
    return worst


def same_detections(expected: list[np.ndarray], got: list[np.ndarray], tolerance: float) -> float:
    """The largest score or box difference of matched detections (same image and class, box and score
    within ``tolerance``); a ``ValueError`` when one side has a detection the other lacks, but for
    near-ties at the ``max_detections`` cut."""
    (boxes_a, scores_a, classes_a, count_a), (boxes_b, scores_b, classes_b, count_b) = expected, got
    if not np.array_equal(count_a, count_b):
        raise ValueError(f"the exported post-processing keeps {count_b.tolist()} detections, PyTorch "
                         f"{count_a.tolist()}; file not written")
    worst = 0.0
    for i, n in enumerate(count_a.tolist()):
        a = np.concatenate([boxes_a[i, :n], scores_a[i, :n, None]], 1).astype(np.float64)
        b = np.concatenate([boxes_b[i, :n], scores_b[i, :n, None]], 1).astype(np.float64)
        diff = np.abs(a[:, None] - b[None]).max(-1)                           # (n, n)
        diff[classes_a[i, :n, None] != classes_b[i, None, :n]] = np.inf
        near_cut = n == scores_a.shape[1] and n > 0
        for side, best, scores in ((0, diff.min(1), a[:, 4]), (1, diff.min(0), b[:, 4])):
            missing = best > tolerance
            if near_cut:  # the K-th score tied with the (K+1)-th: either may be kept
                missing &= scores > scores.min() + tolerance
            if missing.any():
                which = ("PyTorch", "the exported graph")[side]
                raise ValueError(f"the exported post-processing and PyTorch's differ (image {i}: a detection of "
                                 f"{which} has no match within {tolerance:.0e}); file not written")
            worst = max([worst, *best[np.isfinite(best) & (best <= tolerance)].tolist()])
    return worst


def _rename(graph: object, old: str, new: str) -> None:
    for node in graph.node:
        node.output[:] = [new if name == old else name for name in node.output]
        node.input[:] = [new if name == old else name for name in node.input]
    for output in graph.output:
        if output.name == old:
            output.name = new
