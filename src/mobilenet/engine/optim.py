"""Optimisers and learning-rate schedules of the MobileNet papers.

- SGD with Nesterov momentum (V2 paper's recipe in torchvision) and AdamW.
- RMSProp the TensorFlow way (V2 §6.1, V3 §6.1 use TF's): the mean square starts at 1, epsilon is
  added inside the square root, and the learning rate is folded into the momentum buffer. PyTorch's
  ``RMSprop`` differs on all three and is unstable with the papers' eps=1e-3 / lr settings.
- No weight decay on batch-norm parameters and biases (1-D tensors).
- Schedules are per optimiser step: linear warm-up, then cosine, step (x gamma every N epochs,
  the papers' 0.98/0.973 decays) or constant.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, Iterable

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from mobilenet.engine.config import TrainConfig


def param_groups(model: nn.Module, weight_decay: float, frozen_steps: int = 0) -> list[dict[str, Any]]:
    """Weights with decay; BN parameters and biases (every 1-D tensor) without. With
    ``frozen_steps``, everything but the model's new head (``model.head_prefixes``) gets learning
    rate 0 for that many steps."""
    heads = tuple(f"{prefix}." for prefix in model.head_prefixes)
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            frozen = frozen_steps > 0 and not name.startswith(heads)
            groups.setdefault((param.ndim > 1, frozen), []).append(param)
    return [{"params": params, "weight_decay": weight_decay if decay else 0.0,
             "frozen_steps": frozen_steps if frozen else 0}
            for (decay, frozen), params in sorted(groups.items(), key=lambda item: item[0], reverse=True)]


class RMSpropTF(torch.optim.Optimizer):
    """RMSProp as TensorFlow 1 implements it (see the module docstring)."""

    def __init__(self, params: Iterable[Any], lr: float, alpha: float = 0.9, eps: float = 1e-3,
                 momentum: float = 0.9, weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                if group["weight_decay"]:
                    grad = grad.add(param, alpha=group["weight_decay"])
                state = self.state[param]
                if not state:
                    state["square_avg"] = torch.ones_like(param)
                    state["momentum_buffer"] = torch.zeros_like(param)
                square_avg = state["square_avg"]
                square_avg.mul_(group["alpha"]).addcmul_(grad, grad, value=1 - group["alpha"])
                update = grad / (square_avg + group["eps"]).sqrt_()
                buffer = state["momentum_buffer"]
                buffer.mul_(group["momentum"]).add_(update, alpha=group["lr"])
                param.sub_(buffer)
        return loss


def build_optimizer(model: nn.Module, config: TrainConfig, frozen_steps: int = 0) -> torch.optim.Optimizer:
    groups = param_groups(model, config.weight_decay, frozen_steps)
    if config.opt == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=config.momentum > 0)
    if config.opt == "rmsprop_tf":
        return RMSpropTF(groups, lr=config.lr, alpha=config.rmsprop_alpha, eps=config.rmsprop_eps,
                         momentum=config.momentum)
    return torch.optim.AdamW(groups, lr=config.lr)


def lr_factor(step: int, steps_per_epoch: int, config: TrainConfig) -> float:
    """The multiplier of ``config.lr`` before optimiser step ``step`` (0-based)."""
    warmup = int(round(config.warmup_epochs * steps_per_epoch))
    if step < warmup:
        start = config.warmup_lr_ratio
        return start + (1.0 - start) * step / warmup
    if config.sched == "constant":
        return 1.0
    if config.sched == "step":
        period = max(1, int(round(config.step_epochs * steps_per_epoch)))
        return config.step_gamma ** ((step - warmup) // period)
    total = max(1, config.epochs * steps_per_epoch - warmup)
    progress = min(1.0, (step - warmup) / total)
    floor = config.min_lr_ratio
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, steps_per_epoch: int, config: TrainConfig) -> LambdaLR:
    """One factor per group; frozen groups (fine-tuning's first epochs) get 0 until they thaw."""
    def factor(frozen_steps: int, step: int) -> float:
        return 0.0 if step < frozen_steps else lr_factor(step, steps_per_epoch, config)

    return LambdaLR(optimizer, [partial(factor, group.get("frozen_steps", 0)) for group in optimizer.param_groups])
