"""SSD's training loss: matching, box regression, classification with hard negative mining (SSD paper §2.2).

- **Matching:** an anchor is positive when its IoU with a box is at least ``match_iou`` (0.5), and
  every box also takes its best anchor (torchvision's ``SSDMatcher``, TF's ``bipartite`` + threshold).
- **Boxes:** smooth L1 (beta 1) on the codes of positive anchors (``box_coder.encode``).
- **Classes:** softmax cross-entropy (torchvision) or sigmoid cross-entropy over the background and
  object columns (TF Object Detection's ``weighted_sigmoid``), each with hard negative mining: per
  image the ``neg_pos_ratio`` x positives negatives with the highest loss; or, with ``focal``, the
  sigmoid focal loss of every anchor (RetinaNet §3.2, alpha 0.25, gamma 2), no mining. An image
  without boxes still gets its 3 hardest negatives (TF's ``min_negatives_per_image``).
- Both terms are summed over the batch and divided by the number of positives (at least 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torchvision.ops import box_convert, box_iou, sigmoid_focal_loss

from mobilenet.tasks.detection.box_coder import encode


MIN_NEGATIVES = 3


@dataclass(frozen=True)
class LossSettings:
    """The detection block of ``TrainConfig`` that the loss reads."""

    score_fn: str = "softmax"
    match_iou: float = 0.5
    neg_pos_ratio: float = 3.0
    focal: bool = False
    box_weight: float = 1.0
    box_weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)


def match(anchors_xyxy: torch.Tensor, boxes: torch.Tensor, threshold: float) -> torch.Tensor:
    """For every anchor the index of its box, -1 for background (see the module docstring)."""
    matched = torch.full((anchors_xyxy.shape[0],), -1, dtype=torch.long, device=anchors_xyxy.device)
    if boxes.numel() == 0:
        return matched
    iou = box_iou(boxes, anchors_xyxy)                      # (M, N)
    best_iou, best_box = iou.max(0)
    matched = torch.where(best_iou >= threshold, best_box, matched)
    matched[iou.argmax(1)] = torch.arange(boxes.shape[0], device=boxes.device)
    return matched


def detection_loss(codes: torch.Tensor, logits: torch.Tensor, anchors: torch.Tensor, targets: list[dict],
                   settings: LossSettings) -> tuple[torch.Tensor, dict[str, float]]:
    """The batch's loss, and sums over its images of ``box_loss``, ``class_loss`` and ``positives``.

    ``targets``: per image ``{"boxes": (M, 4) normalised xyxy, "labels": (M,) object class 0..C-1}``.
    """
    anchors_xyxy = box_convert(anchors, "cxcywh", "xyxy")
    classes = torch.zeros(logits.shape[:2], dtype=torch.long, device=logits.device)   # 0: background
    box_targets = torch.zeros_like(codes)
    for i, target in enumerate(targets):
        matched = match(anchors_xyxy, target["boxes"], settings.match_iou)
        positive = matched >= 0
        classes[i, positive] = target["labels"][matched[positive]] + 1
        box_targets[i, positive] = encode(target["boxes"][matched[positive]], anchors[positive], settings.box_weights)
    positive = classes > 0
    count = positive.sum().clamp_min(1).float()
    box_loss = F.smooth_l1_loss(codes[positive].float(), box_targets[positive], reduction="sum")
    class_loss = _class_loss(logits.float(), classes, positive, settings)
    loss = (settings.box_weight * box_loss + class_loss) / count
    stats = {"box_loss": float(box_loss.detach()) / float(count) * len(targets),
             "class_loss": float(class_loss.detach()) / float(count) * len(targets),
             "positives": float(positive.sum())}
    return loss, stats


def _class_loss(logits: torch.Tensor, classes: torch.Tensor, positive: torch.Tensor,
                settings: LossSettings) -> torch.Tensor:
    if settings.focal:
        one_hot = F.one_hot(classes, logits.shape[-1]).to(logits.dtype)
        return sigmoid_focal_loss(logits, one_hot, alpha=0.25, gamma=2.0, reduction="sum")
    if settings.score_fn == "softmax":
        per_anchor = F.cross_entropy(logits.transpose(1, 2), classes, reduction="none")          # (B, N)
    else:
        one_hot = F.one_hot(classes, logits.shape[-1]).to(logits.dtype)
        per_anchor = F.binary_cross_entropy_with_logits(logits, one_hot, reduction="none").sum(-1)
    # hard negative mining (SSD §2.2): per image the highest-loss negatives, neg_pos_ratio per positive
    negatives = per_anchor.detach().masked_fill(positive, -float("inf"))
    order = negatives.argsort(1, descending=True).argsort(1)
    wanted = settings.neg_pos_ratio * positive.sum(1, keepdim=True)
    if settings.neg_pos_ratio > 0:  # TF's min_negatives_per_image: images without boxes teach "nothing here"
        wanted = wanted.clamp_min(MIN_NEGATIVES)
    hard = order < wanted
    return per_anchor[positive].sum() + per_anchor[hard & ~positive].sum()
