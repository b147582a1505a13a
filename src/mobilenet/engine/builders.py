"""Turn a ``TrainConfig`` into the run's parts: datasets, transforms, model, EMA, autocast."""

from __future__ import annotations

import contextlib
import json
from functools import partial
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from mobilenet.data.digits import digits_splits
from mobilenet.data.folders import folder_splits
from mobilenet.data.transforms import IMAGENET_MEAN, IMAGENET_STD, preprocessing, train_transform
from mobilenet.engine.config import TrainConfig
from mobilenet.models.registry import create_model


def is_digits(data: str | None) -> bool:
    return data in (None, "", "digits")


def build_datasets(config: TrainConfig, run_dir: Path | None) -> tuple[Any, Any, list[str], dict]:
    """(train, val, class names, split record). A resumed run reuses ``run_dir/split.json``."""
    if is_digits(config.data):
        train, val, split = digits_splits(config.resolution, config.val_fraction, config.seed)
    else:
        saved = None
        if run_dir is not None and (run_dir / "split.json").is_file():
            saved = json.loads((run_dir / "split.json").read_text())
        train, val, split = folder_splits(config.data, config.val_fraction, config.seed, saved)
    if config.max_images:
        train, val = first_images(train, config.max_images), first_images(val, config.max_images)
    return train, val, list(train.classes), split


def first_images(dataset: Any, count: int) -> Any:
    """The dataset's first ``count`` images (same type, same classes)."""
    if count >= len(dataset):
        return dataset
    keep = dataset.targets[:count]
    if hasattr(dataset, "samples"):
        return type(dataset)(dataset.samples[:count], dataset.classes)
    return type(dataset)(dataset.images[:count], keep, dataset.classes)


def build_model(config: TrainConfig, num_classes: int) -> nn.Module:
    """The network; with ``config.weights`` the pretrained one with a new head for our classes."""
    options: dict[str, Any] = {"resolution": config.resolution}
    if config.width_mult is not None:
        options["width_mult"] = config.width_mult
    for key in ("dropout", "bn_momentum"):
        if getattr(config, key) is not None:
            options[key] = getattr(config, key)
    if not config.weights:
        return create_model(config.model, num_classes=num_classes, **options)
    from mobilenet.weights import build_model as build_pretrained  # late: weights import the registry

    # The weights' own options (TF padding and BN eps for Keras files) come with them.
    model = build_pretrained(config.weights, config.model, **options)
    if model.num_classes != num_classes:
        model.classifier = nn.Linear(model.num_features, num_classes)
        nn.init.normal_(model.classifier.weight, 0, 0.01)
        nn.init.zeros_(model.classifier.bias)
        model.num_classes = num_classes
        model.creation_options["num_classes"] = num_classes
    return model


def model_preprocessing(model: nn.Module, config: TrainConfig) -> dict[str, Any]:
    """Input normalisation: the pretrained weights' own (e.g. Keras' [-1, 1]) when fine-tuning,
    ImageNet mean/std otherwise."""
    pretrained = getattr(model, "preprocessing", None) or {}
    mean = tuple(pretrained.get("mean", IMAGENET_MEAN))
    std = tuple(pretrained.get("std", IMAGENET_STD))
    return preprocessing(config.resolution, config.crop_pct, mean, std)


def make_train_transform(pre: dict[str, Any], config: TrainConfig) -> Callable[[Any], torch.Tensor]:
    return train_transform(pre, config.crop_scale, config.hflip, config.auto_augment, config.random_erase)


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
        raise ValueError("amp fp16 needs a GPU; on CPU use --amp bf16 or --amp off")
    return partial(torch.autocast, device.type, dtype=dtype), dtype == torch.float16
