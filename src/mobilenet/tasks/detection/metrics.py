"""COCO box metrics with pycocotools: mAP@[.5:.95], AP50, AP75, per-class AP, precision-recall curves.

Ground truth and detections are in pixels of the original images (COCO's small/medium/large
areas are pixel areas). Per-class AP is COCO's mAP@[.5:.95] of that class; the precision-recall
curves are COCO's interpolated precision at IoU 0.5 over its 101 recall points (all areas, 100
detections per image).
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from mobilenet.extras import require
from mobilenet.tasks.base import EvalResult


@dataclass
class ImageResult:
    """One image: ground truth and detections, pixels xyxy (picklable for gathering over processes)."""

    gt_boxes: np.ndarray
    gt_labels: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    loss: float = 0.0


@dataclass
class DetectionMetrics:
    metrics: dict[str, float]
    per_class: dict[str, float]
    curves: dict[str, list[float]] = field(default_factory=dict)
    recall: list[float] = field(default_factory=list)


def _xywh(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], 1)


def coco_metrics(images: Sequence[ImageResult], class_names: Sequence[str]) -> DetectionMetrics:
    """COCO evaluation of ``images`` (module docstring); every metric is 0 when there are no boxes."""
    coco_module = require("pycocotools.coco", "detection mAP (pycocotools)")
    cocoeval = require("pycocotools.cocoeval", "detection mAP (pycocotools)")
    gt: dict = {"images": [], "annotations": [], "categories": [{"id": i + 1, "name": n}
                                                                    for i, n in enumerate(class_names)]}
    detections = []
    for image_id, image in enumerate(images, 1):
        gt["images"].append({"id": image_id})
        for box, label in zip(_xywh(image.gt_boxes), image.gt_labels):
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": image_id, "bbox": box.tolist(),
                                      "area": float(box[2] * box[3]), "iscrowd": 0, "category_id": int(label) + 1})
        for box, score, label in zip(_xywh(image.boxes), image.scores, image.labels):
            detections.append({"image_id": image_id, "bbox": box.tolist(), "score": float(score),
                               "category_id": int(label) + 1})
    names = list(class_names)
    empty = DetectionMetrics({"map": 0.0, "ap50": 0.0, "ap75": 0.0}, {n: 0.0 for n in names})
    if not gt["annotations"] or not detections:
        return empty
    with contextlib.redirect_stdout(io.StringIO()):   # pycocotools prints its progress
        truth = coco_module.COCO()
        truth.dataset = gt
        truth.createIndex()
        found = truth.loadRes(detections)
        evaluation = cocoeval.COCOeval(truth, found, "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    stats = evaluation.stats
    precision = evaluation.eval["precision"]          # (IoU thresholds, recall points, classes, areas, max dets)
    per_class, curves = {}, {}
    present = {int(a["category_id"]) - 1 for a in gt["annotations"]}
    for k, name in enumerate(names):
        values = precision[:, :, k, 0, -1]
        per_class[name] = float(values[values > -1].mean()) if k in present and (values > -1).any() else 0.0
        if k in present:
            curves[name] = [max(float(p), 0.0) for p in precision[0, :, k, 0, -1]]
    metrics = {"map": max(float(stats[0]), 0.0), "ap50": max(float(stats[1]), 0.0), "ap75": max(float(stats[2]), 0.0)}
    return DetectionMetrics(metrics, per_class, curves, [float(r) for r in evaluation.params.recThrs])


def detection_result(images: Sequence[ImageResult], class_names: Sequence[str]) -> EvalResult:
    """The task's ``EvalResult``: loss, map, ap50, ap75 (primary: map), per-class AP, PR curves."""
    if not images:
        raise ValueError("no images were evaluated (the set is empty or every image was unreadable)")
    found = coco_metrics(images, class_names)
    loss = float(np.mean([image.loss for image in images]))   # NaN for exported files (no raw outputs)
    return EvalResult({"loss": loss, **found.metrics}, "map", len(images), list(class_names), found.per_class,
                      {"pr_curves": found.curves, "recall": found.recall})
