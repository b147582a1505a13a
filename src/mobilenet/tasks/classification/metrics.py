"""Classification metrics: top-1, top-5, per-class accuracy and the confusion matrix."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from mobilenet.tasks.base import EvalResult


def classification_result(logits: torch.Tensor, targets: torch.Tensor, class_names: Sequence[str]) -> EvalResult:
    """Metrics of ``logits`` (N, classes) against integer ``targets``; an error for no images."""
    if len(targets) == 0:
        raise ValueError("no images were evaluated (the folder is empty or every image was unreadable)")
    num_classes = len(class_names)
    if logits.shape[1] != num_classes:
        raise ValueError(f"the model has {logits.shape[1]} outputs but the data has {num_classes} classes")
    k = min(5, num_classes)
    topk = logits.topk(k, dim=1).indices
    correct = topk.eq(targets[:, None])
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    confusion.index_put_((targets, topk[:, 0]), torch.ones_like(targets), accumulate=True)
    per_class_total = confusion.sum(1).clamp_min(1)
    per_class = (confusion.diag().float() / per_class_total).tolist()
    n = len(targets)
    metrics = {"loss": float(nn.functional.cross_entropy(logits, targets)),
               "top1": float(correct[:, 0].sum()) / n, "top5": float(correct.any(1).sum()) / n}
    return EvalResult(metrics, "top1", n, list(class_names), dict(zip(class_names, per_class)),
                      {"confusion": confusion.tolist()})
