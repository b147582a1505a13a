"""Per-pixel cross-entropy with an ignore label, plus torchvision's auxiliary loss (weight 0.5).

The loss is the mean over the labelled pixels of the whole (global) batch. Under DDP each process
divides its sum by the batch's labelled pixels over all processes (times the process count, which
DDP's gradient averaging divides out), so two processes train exactly as one: a per-process mean
would weigh the processes' pixels unequally, since crops pad with the ignore label.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F

IGNORE_INDEX = 255
"""PASCAL VOC's "void" label (object borders, unlabelled): no loss, not counted in the metrics."""


def _pixels_per_process(valid: torch.Tensor) -> torch.Tensor:
    """The labelled pixels of the global batch divided by the number of processes (this batch's when alone)."""
    count = valid.sum().to(torch.float32)
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        count = count.clone()
        dist.all_reduce(count)
        count = count / dist.get_world_size()
    return count


def _cross_entropy(logits: torch.Tensor, targets: torch.Tensor, pixels: torch.Tensor,
                   label_smoothing: float) -> torch.Tensor:
    total = F.cross_entropy(logits, targets, ignore_index=IGNORE_INDEX, label_smoothing=label_smoothing,
                            reduction="sum")
    return total / pixels.clamp_min(1.0)  # a batch without labelled pixels gives 0, not 0/0


def segmentation_loss(outputs: torch.Tensor | tuple[torch.Tensor, torch.Tensor], targets: torch.Tensor,
                      aux_weight: float = 0.5, label_smoothing: float = 0.0) -> tuple[torch.Tensor, dict[str, float]]:
    """The mean loss over the labelled pixels of a batch and the batch's sum of per-image pixel
    accuracies (``train_pixel_acc``). ``outputs``: logits ``(N, C, H, W)``, or ``(logits, aux_logits)``
    from a model with an auxiliary head in training; ``targets``: ``(N, H, W)`` class indices."""
    logits, aux = outputs if isinstance(outputs, tuple) else (outputs, None)
    if logits.shape[-2:] != targets.shape[-2:]:
        raise ValueError(f"logits of size {tuple(logits.shape[-2:])} for masks of size {tuple(targets.shape[-2:])}")
    valid = targets != IGNORE_INDEX
    pixels = _pixels_per_process(valid)
    loss = _cross_entropy(logits, targets, pixels, label_smoothing)
    if aux is not None:
        loss = loss + aux_weight * _cross_entropy(aux, targets, pixels, label_smoothing)
    with torch.no_grad():
        correct = ((logits.argmax(1) == targets) & valid).flatten(1).sum(1)
        accuracy = correct.float() / valid.flatten(1).sum(1).clamp_min(1)
    return loss, {"pixel_acc": float(accuracy.sum())}
