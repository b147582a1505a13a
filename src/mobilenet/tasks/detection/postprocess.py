"""From box codes and class logits to detections: decoding, scores, NMS, a fixed number of outputs.

One function serves eval mode, ``predict`` and the exported file, so the ONNX graph (where
``torchvision.ops.nms`` becomes ``NonMaxSuppression``) computes exactly what PyTorch does:

1. decode the boxes against the anchors and clip them to the image (torchvision clips too);
2. scores: softmax or sigmoid of the logits, background (column 0) dropped;
3. candidates: per class the ``candidates`` best anchors (torchvision's ``topk_candidates``), or,
   class-agnostic, each anchor's best class and the best anchors overall (TFLite's fast NMS,
   ``max_classes_per_detection = 1``); below ``score_threshold`` they are dropped;
4. NMS within each image and class: one ``nms`` call on boxes shifted apart by image along x and
   by class along y (normalised boxes, so shifts of 2 never overlap: torchvision's coordinate
   trick), or, in eager mode with more than 4000 candidates, one call per image and class (as
   torchvision's ``batched_nms``; one call on many boxes is slower than many small ones);
5. the ``max_detections`` best survivors per image, by score; padding has score 0, class -1 and a
   zero box, and ``num_detections`` counts the real ones.

Boxes are normalised ``(x1, y1, x2, y2)``: with the whole image squashed to the input, multiplying
by the original width and height gives pixels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.ops import nms

from mobilenet.tasks.detection.box_coder import decode
from mobilenet.tasks.detection.specs import PostprocessSpec

OUTPUT_NAMES = ("boxes", "scores", "classes", "num_detections")


def class_scores(logits: torch.Tensor, score_fn: str) -> torch.Tensor:
    """Object-class probabilities ``(..., C)`` from logits ``(..., C + 1)`` with background at 0."""
    probabilities = logits.softmax(-1) if score_fn == "softmax" else logits.sigmoid()
    return probabilities[..., 1:]


def _top(values: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``count`` largest along the last axis, equal values in index order (ONNX ``TopK``'s rule,
    so the exported graph breaks ties as PyTorch does)."""
    top, index = values.sort(dim=-1, descending=True)
    return top[..., :count], index[..., :count]


def _candidates(boxes: torch.Tensor, scores: torch.Tensor,
                spec: PostprocessSpec) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(scores (B, T), boxes (B, T, 4), classes (B, T)) of every image's candidates."""
    batch, anchors, classes = scores.shape
    count = anchors if spec.candidates <= 0 else min(spec.candidates, anchors)
    if spec.nms == "per_class":
        top, index = _top(scores.transpose(1, 2), count)                     # (B, C, k)
        index = index.reshape(batch, classes * count)
        labels = torch.arange(classes, device=scores.device).repeat_interleave(count).expand(batch, -1)
        top = top.reshape(batch, classes * count)
    else:
        best, best_class = scores.max(-1)
        top, index = _top(best, count)
        labels = best_class.gather(1, index)
    return top, boxes.gather(1, index.unsqueeze(-1).expand(-1, -1, 4)), labels


def detect(codes: torch.Tensor, logits: torch.Tensor, anchors: torch.Tensor, box_weights: tuple[float, ...],
           score_fn: str, spec: PostprocessSpec) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(boxes (B, K, 4), scores (B, K), classes (B, K), num_detections (B,))`` (module docstring)."""
    boxes = decode(codes.float(), anchors, box_weights).clamp(0.0, 1.0)
    scores, boxes, labels = _candidates(boxes, class_scores(logits.float(), score_fn), spec)
    batch, total = scores.shape
    flat = scores.reshape(-1)
    selected = torch.nonzero(flat > spec.score_threshold).squeeze(1)
    image = selected // total
    group = labels.reshape(-1)[selected] if spec.nms == "per_class" else torch.zeros_like(selected)
    kept = selected[_grouped_nms(boxes.reshape(-1, 4)[selected], flat[selected], image, group, spec.iou_threshold)]
    survivors = torch.zeros_like(flat).scatter(0, kept, flat[kept]).reshape(batch, total)
    if total < spec.max_detections:  # fewer candidates than outputs: pad with empty ones
        pad = spec.max_detections - total
        survivors, boxes, labels = F.pad(survivors, (0, pad)), F.pad(boxes, (0, 0, 0, pad)), F.pad(labels, (0, pad))
    top, index = _top(survivors, spec.max_detections)
    valid = top > 0
    out_boxes = boxes.gather(1, index.unsqueeze(-1).expand(-1, -1, 4)) * valid.unsqueeze(-1)
    out_classes = torch.where(valid, labels.gather(1, index), torch.full_like(index, -1))
    return out_boxes, top, out_classes, valid.sum(1)


def _grouped_nms(boxes: torch.Tensor, scores: torch.Tensor, image: torch.Tensor, group: torch.Tensor,
                 iou_threshold: float) -> torch.Tensor:
    """Indices kept by NMS within each (image, group), in no particular order."""
    tracing = torch.compiler.is_compiling() or torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
    if tracing or boxes.shape[0] <= 4000:
        shift = torch.stack([image, group, image, group], 1).to(boxes.dtype) * 2.0
        return nms(boxes + shift, scores, iou_threshold)
    keys = image * (int(group.max()) + 1) + group
    kept = [members[nms(boxes[members], scores[members], iou_threshold)]
            for members in (torch.nonzero(keys == key).squeeze(1) for key in torch.unique(keys))]
    return torch.cat(kept)
