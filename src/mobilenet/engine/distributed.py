"""Running under ``torchrun``: process group (gloo on CPU, NCCL on GPU), rank-0 helpers, gathering
evaluation results, and batch norm synchronised across processes.

PyTorch's ``SyncBatchNorm`` refuses CPU tensors, so on CPU we use ``DistributedBatchNorm2d``: the
per-channel sums and squared sums are all-reduced with autograd-aware collectives. On GPU,
PyTorch's own ``SyncBatchNorm`` is used.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


# The autograd-aware collectives still work; their replacement is private API (torch 2.x).
warnings.filterwarnings("ignore", message=r"torch\.distributed\.nn\.functional\.all_gather is deprecated",
                        category=FutureWarning)


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA GPU is available; use device cpu or auto")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def setup(device_name: str = "auto") -> DistContext:
    """Join the process group when started by torchrun (WORLD_SIZE > 1); a 1-process context otherwise."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    device = pick_device(device_name)
    if world_size <= 1:
        return DistContext(device=device)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistContext(rank, world_size, local_rank, device)


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def gather_objects(obj: Any, ctx: DistContext) -> list[Any]:
    """Every rank's ``obj`` (on every rank); ``[obj]`` without a process group."""
    if not ctx.distributed:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, ctx: DistContext) -> Any:
    """Rank 0's ``obj`` on every rank; ``obj`` itself without a process group."""
    if not ctx.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_reduce_mean(value: float, ctx: DistContext) -> float:
    if not ctx.distributed:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(tensor)
    return float(tensor.item()) / ctx.world_size


class DistributedBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics cover the whole global batch (all processes)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        from torch.distributed.nn.functional import all_gather

        # Each process's mean and sum of squared deviations, combined with Chan's formula: no
        # E[x^2] - mean^2 cancellation, so the result matches BatchNorm2d on the whole batch.
        channels = x.shape[1]
        local_var, local_mean = torch.var_mean(x, dim=(0, 2, 3), correction=0)
        n = x.numel() // channels
        local = torch.cat([local_mean, local_var * n, x.new_full((1,), float(n))])
        gathered = torch.stack(all_gather(local))  # (world, 2C + 1), differentiable
        counts = gathered[:, -1:]
        total = counts.sum()
        mean = (gathered[:, :channels] * counts).sum(0) / total
        m2 = (gathered[:, channels:2 * channels] + counts * (gathered[:, :channels] - mean) ** 2).sum(0)
        var = m2 / total
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                unbiased = var * total / (total - 1).clamp_min(1)
                self.running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
                self.running_var.mul_(1 - momentum).add_(unbiased.detach(), alpha=momentum)
        shape = (1, channels, 1, 1)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        return y * self.weight.view(shape) + self.bias.view(shape) if self.affine else y


def convert_sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """Replace every BatchNorm2d by a synchronised one (PyTorch's on GPU, ours on CPU)."""
    if device.type != "cpu":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for name, child in model.named_children():
        if type(child) is nn.BatchNorm2d:
            sync = DistributedBatchNorm2d(child.num_features, child.eps, child.momentum, child.affine,
                                          child.track_running_stats)
            sync.load_state_dict(child.state_dict())
            sync.to(next(child.parameters(), child.running_mean).device)
            setattr(model, name, sync)
        else:
            convert_sync_batchnorm(child, device)
    return model
