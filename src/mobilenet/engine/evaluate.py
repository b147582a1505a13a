"""Evaluation over processes: each rank runs the task on its shard, the states are gathered, the
task computes the metrics. The validation sampler does not pad, so no image is counted twice and
the result equals a 1-process evaluation."""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn

from mobilenet.engine.distributed import DistContext, gather_objects
from mobilenet.tasks.base import EvalResult, Task


@torch.no_grad()
def evaluate(task: Task, model: nn.Module, loader: Any, class_names: Sequence[str], ctx: DistContext,
             channels_last: bool = False, autocast: Callable[[], Any] | None = None) -> EvalResult:
    """The task's validation metrics of ``model`` on ``loader``; unreadable images are listed in
    ``result.skipped``."""
    was_training = model.training
    model.eval()
    skipped: list[int] = []

    def batches() -> Iterator[tuple[torch.Tensor, Any]]:
        for batch in loader:
            skipped.extend(batch["skipped"])
            if batch["images"] is not None:
                yield batch["images"].to(ctx.device, non_blocking=True), task.targets_to(batch["targets"], ctx.device)

    def prepare(images: torch.Tensor) -> torch.Tensor:
        return images.contiguous(memory_format=torch.channels_last) if channels_last else images

    try:
        state = task.evaluate_shard(model, batches(), ctx.device, prepare, autocast or contextlib.nullcontext)
    finally:
        model.train(was_training)
    gathered = gather_objects((state, skipped), ctx)
    result = task.summarize([g[0] for g in gathered], class_names)
    result.skipped = sorted({i for g in gathered for i in g[1]})
    return result
