"""Segmentation metrics from one confusion matrix: mIoU, per-class IoU, pixel accuracy.

The matrix (rows: true class, columns: predicted) is summed over images and over processes, then
IoU = TP / (TP + FP + FN) per class. mIoU averages the classes that occur (in the labels or the
predictions) as mmsegmentation's ``nanmean`` does; a class absent from both has no IoU. Ignored
pixels (255) are not counted.
"""

from __future__ import annotations

from typing import Sequence

import torch

from mobilenet.tasks.base import EvalResult
from mobilenet.tasks.segmentation.loss import IGNORE_INDEX


def confusion(predicted: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The (num_classes, num_classes) int64 confusion matrix of predicted and true class maps."""
    valid = target != IGNORE_INDEX
    true, pred = target[valid].long(), predicted[valid].long()
    if true.numel() and int(true.max()) >= num_classes:
        raise ValueError(f"labels hold class {int(true.max())} but the model has {num_classes} classes")
    return torch.bincount(true * num_classes + pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def iou_per_class(matrix: torch.Tensor) -> list[float | None]:
    """IoU of each class (None where the class occurs neither in the labels nor in the predictions)."""
    matrix = matrix.double()
    tp = matrix.diag()
    union = matrix.sum(0) + matrix.sum(1) - tp
    return [float(t / u) if u > 0 else None for t, u in zip(tp, union)]


def segmentation_result(matrix: torch.Tensor, loss_sum: float, pixels: int, images: int,
                        class_names: Sequence[str]) -> EvalResult:
    """mIoU, pixel accuracy and the mean loss of summed evaluation states."""
    if images == 0:
        raise ValueError("no images were evaluated (the folder is empty or every image was unreadable)")
    ious = iou_per_class(matrix)
    present = [v for v in ious if v is not None]
    total = int(matrix.sum())
    metrics = {"loss": loss_sum / max(pixels, 1), "miou": sum(present) / len(present) if present else 0.0,
               "pixel_acc": float(matrix.diag().sum()) / total if total else 0.0}
    per_class = {name: iou for name, iou in zip(class_names, ious) if iou is not None}
    return EvalResult(metrics, "miou", images, list(class_names), per_class,
                      {"confusion": matrix.tolist(), "iou": ious})
