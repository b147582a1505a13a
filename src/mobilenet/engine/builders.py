"""Turn a ``TrainConfig`` into the run's parts: model, EMA, autocast (the task builds the data)."""

from __future__ import annotations

import contextlib
from functools import partial
from typing import Any, Callable

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from mobilenet.engine.config import TrainConfig


def model_options(config: TrainConfig) -> dict[str, Any]:
    """The ``create_model`` options a training config sets (None: the model's own default)."""
    from mobilenet.models.registry import get_entry

    options: dict[str, Any] = {"resolution": config.resolution}
    for key in ("width_mult", "dropout", "bn_momentum"):
        if getattr(config, key) is not None:
            options[key] = getattr(config, key)
    entry = get_entry(config.model)
    if entry.build is not None:  # a task model takes the options its builder declares, and settings named so
        defaults = TrainConfig()
        options.update({k: getattr(config, k) for k in entry.options if k in defaults.to_dict() and k not in options
                        and getattr(config, k) != getattr(defaults, k)})  # e.g. a segmenter's aux_loss
        options = {k: v for k, v in options.items() if k in entry.options}
    return options


def build_model(config: TrainConfig, class_names: list[str]) -> nn.Module:
    """The network for ``class_names``; with ``config.weights`` the pretrained one, with a new head
    where the classes differ (a classification checkpoint fills a task model's backbone only)."""
    from mobilenet.factory import create_model

    model = create_model(config.model, weights=config.weights, num_classes=len(class_names), **model_options(config))
    return model.train()


def _ema_update(decay: float, ema: list[torch.Tensor], current: list[torch.Tensor], n: torch.Tensor) -> None:
    # Warm-up as in TF's ExponentialMovingAverage(num_updates): early averages forget the random init.
    rate = min(decay, (1.0 + float(n)) / (10.0 + float(n)))
    floats = [(e, c) for e, c in zip(ema, current) if e.is_floating_point()]
    if floats:
        torch._foreach_lerp_([e for e, _ in floats], [c for _, c in floats], 1.0 - rate)
    for e, c in zip(ema, current):
        if not e.is_floating_point():
            e.copy_(c)


def build_ema(model: nn.Module, decay: float | None) -> AveragedModel | None:
    if decay is None:
        return None
    return AveragedModel(model, multi_avg_fn=partial(_ema_update, decay), use_buffers=True)


def autocast_factory(amp: str, device: torch.device) -> tuple[Callable[[], Any], bool]:
    """(a context-manager factory for the forward pass, whether a GradScaler is needed)."""
    if amp == "auto":
        amp = "fp16" if device.type == "cuda" else "off"
    if amp == "off":
        return contextlib.nullcontext, False
    dtype = torch.float16 if amp == "fp16" else torch.bfloat16
    if device.type == "cpu" and dtype == torch.float16:
        raise ValueError("amp fp16 needs a GPU; on CPU use amp bf16 or off")
    return partial(torch.autocast, device.type, dtype=dtype), dtype == torch.float16
