"""Per-pixel cross-entropy with an ignore label, plus torchvision's auxiliary loss (weight 0.5)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = 255
"""PASCAL VOC's "void" label (object borders, unlabelled): no loss, not counted in the metrics."""


def _cross_entropy(logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    if not bool((targets != IGNORE_INDEX).any()):  # every pixel ignored: zero, not 0/0
        return logits.sum() * 0.0
    return F.cross_entropy(logits, targets, ignore_index=IGNORE_INDEX, label_smoothing=label_smoothing)


def segmentation_loss(outputs: torch.Tensor | tuple[torch.Tensor, torch.Tensor], targets: torch.Tensor,
                      aux_weight: float = 0.5, label_smoothing: float = 0.0) -> tuple[torch.Tensor, dict[str, float]]:
    """The mean loss over the labelled pixels of a batch and the batch's sum of per-image pixel
    accuracies (``train_pixel_acc``). ``outputs``: logits ``(N, C, H, W)``, or ``(logits, aux_logits)``
    from a model with an auxiliary head in training; ``targets``: ``(N, H, W)`` class indices."""
    logits, aux = outputs if isinstance(outputs, tuple) else (outputs, None)
    if logits.shape[-2:] != targets.shape[-2:]:
        raise ValueError(f"logits of size {tuple(logits.shape[-2:])} for masks of size {tuple(targets.shape[-2:])}")
    loss = _cross_entropy(logits, targets, label_smoothing)
    if aux is not None:
        loss = loss + aux_weight * _cross_entropy(aux, targets, label_smoothing)
    with torch.no_grad():
        valid = targets != IGNORE_INDEX
        correct = ((logits.argmax(1) == targets) & valid).flatten(1).sum(1)
        accuracy = correct.float() / valid.flatten(1).sum(1).clamp_min(1)
    return loss, {"pixel_acc": float(accuracy.sum())}
