"""Evaluation: top-1, top-5, per-class accuracy and the confusion matrix, gathered over processes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch import nn

from mobilenet.engine.distributed import DistContext, gather_objects


@dataclass
class EvalResult:
    top1: float
    top5: float
    loss: float
    count: int
    per_class: list[float]
    confusion: list[list[int]]  # rows: true class, columns: predicted class
    class_names: list[str] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"top1": self.top1, "top5": self.top5, "loss": self.loss, "count": self.count}


def metrics_from_predictions(logits: torch.Tensor, targets: torch.Tensor, class_names: Sequence[str],
                             loss: float = float("nan")) -> EvalResult:
    num_classes = len(class_names)
    k = min(5, num_classes)
    topk = logits.topk(k, dim=1).indices
    correct = topk.eq(targets[:, None])
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    confusion.index_put_((targets, topk[:, 0]), torch.ones_like(targets), accumulate=True)
    per_class_total = confusion.sum(1).clamp_min(1)
    per_class = (confusion.diag().float() / per_class_total).tolist()
    n = max(len(targets), 1)
    return EvalResult(top1=float(correct[:, 0].sum()) / n, top5=float(correct.any(1).sum()) / n, loss=loss,
                      count=len(targets), per_class=per_class, confusion=confusion.tolist(),
                      class_names=list(class_names))


@torch.no_grad()
def evaluate(model: nn.Module, loader: Any, class_names: Sequence[str], ctx: DistContext,
             channels_last: bool = False, autocast: Any = None) -> EvalResult:
    """Each process evaluates its shard; predictions are gathered and de-duplicated by sample index
    (a distributed sampler pads the last shard), so the result equals a 1-process evaluation."""
    was_training = model.training
    model.eval()
    outputs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    skipped: list[int] = []
    for batch in loader:
        skipped += batch["skipped"]
        if batch["images"] is None:
            continue
        images = batch["images"].to(ctx.device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        if autocast is not None:
            with autocast():
                logits = model(images)
        else:
            logits = model(images)
        outputs.append((batch["indices"], logits.float().cpu(), batch["targets"]))
    model.train(was_training)
    local = (torch.cat([o[0] for o in outputs]) if outputs else torch.empty(0, dtype=torch.long),
             torch.cat([o[1] for o in outputs]) if outputs else torch.empty(0, len(class_names)),
             torch.cat([o[2] for o in outputs]) if outputs else torch.empty(0, dtype=torch.long), skipped)
    gathered = gather_objects(local, ctx)
    indices = torch.cat([g[0] for g in gathered])
    logits = torch.cat([g[1] for g in gathered])
    targets = torch.cat([g[2] for g in gathered])
    order = torch.argsort(indices, stable=True)
    indices, logits, targets = indices[order], logits[order], targets[order]
    keep = torch.ones_like(indices, dtype=torch.bool)
    keep[1:] = indices[1:] != indices[:-1]
    logits, targets = logits[keep], targets[keep]
    loss = float(nn.functional.cross_entropy(logits, targets)) if len(targets) else float("nan")
    result = metrics_from_predictions(logits, targets, class_names, loss)
    result.skipped = sorted({i for g in gathered for i in g[3]})
    return result
