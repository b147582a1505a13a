"""torchvision transforms for training and evaluation, and the preprocessing record saved with
every checkpoint so that ``eval`` and ``predict`` prepare images exactly as training did.

Training: random resized crop, horizontal flip, optional RandAugment/AutoAugment/TrivialAugment,
normalisation, optional random erasing. Evaluation: resize to ``resolution / crop_pct`` and a
center crop (the usual 0.875 of ImageNet evaluation).
"""

from __future__ import annotations

from typing import Any

import torch
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

AUTO_AUGMENT = {
    "randaugment": v2.RandAugment,
    "autoaugment": v2.AutoAugment,
    "trivialaugment": v2.TrivialAugmentWide,
}


def preprocessing(resolution: int, crop_pct: float, mean: tuple[float, ...] = IMAGENET_MEAN,
                  std: tuple[float, ...] = IMAGENET_STD) -> dict[str, Any]:
    """What a checkpoint records about its input: enough to rebuild ``eval_transform``."""
    return {"resolution": int(resolution), "crop_pct": float(crop_pct), "mean": list(mean), "std": list(std),
            "resize_mode": "shorter_side", "interpolation": "bilinear", "color": "RGB"}


def _to_float(mean: Any, std: Any) -> list[Any]:
    return [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]


def train_transform(pre: dict[str, Any], crop_scale: float = 0.08, hflip: float = 0.5,
                    auto_augment: str | None = None, random_erase: float = 0.0) -> v2.Compose:
    steps: list[Any] = [v2.ToImage(),
                        v2.RandomResizedCrop(pre["resolution"], scale=(crop_scale, 1.0), antialias=True)]
    if hflip > 0:
        steps.append(v2.RandomHorizontalFlip(hflip))
    if auto_augment:
        steps.append(AUTO_AUGMENT[auto_augment]())
    steps += _to_float(pre["mean"], pre["std"])
    if random_erase > 0:
        steps.append(v2.RandomErasing(random_erase))
    return v2.Compose(steps)


def eval_transform(pre: dict[str, Any]) -> v2.Compose:
    resolution = pre["resolution"]
    resize = int(round(resolution / pre["crop_pct"]))
    return v2.Compose([v2.ToImage(), v2.Resize(resize, antialias=True), v2.CenterCrop(resolution),
                       *_to_float(pre["mean"], pre["std"])])
