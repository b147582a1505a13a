"""Classification training transforms (torchvision ``transforms.v2``).

Random resized crop, horizontal flip, optional RandAugment/AutoAugment/TrivialAugment,
normalisation, optional random erasing. Evaluation uses ``mobilenet.data.preprocessing.eval_transform``.
The transforms take ``(image, label)`` and pass the label through.
"""

from __future__ import annotations

from typing import Any

from torchvision.transforms import v2

from mobilenet.data.preprocessing import Preprocessing, to_tensor_steps

AUTO_AUGMENT = {
    "randaugment": v2.RandAugment,
    "autoaugment": v2.AutoAugment,
    "trivialaugment": v2.TrivialAugmentWide,
}


def train_transform(pre: Preprocessing, crop_scale: float = 0.08, hflip: float = 0.5,
                    auto_augment: str | None = None, random_erase: float = 0.0) -> v2.Compose:
    steps: list[Any] = [v2.ToImage(), v2.RandomResizedCrop(pre.resolution, scale=(crop_scale, 1.0), antialias=True)]
    if hflip > 0:
        steps.append(v2.RandomHorizontalFlip(hflip))
    if auto_augment:
        steps.append(AUTO_AUGMENT[auto_augment]())
    steps += to_tensor_steps(pre)
    if random_erase > 0:
        steps.append(v2.RandomErasing(random_erase))
    return v2.Compose(steps)
