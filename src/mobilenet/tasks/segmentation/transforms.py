"""Segmentation transforms (torchvision ``transforms.v2``, masks as ``tv_tensors.Mask``).

Training as torchvision's segmentation references and TF DeepLab: random rescale (the shorter side
to 0.5-2x the crop size), a random crop padded with the ignore label where the image is smaller,
horizontal flip, optional colour jitter, normalisation. Evaluation: the image exactly as
``mobilenet.data.preprocessing.eval_transform`` prepares it for every task, the mask resized the
same way with nearest-neighbour sampling (metrics are computed at the model's input size).
"""

from __future__ import annotations

from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import InterpolationMode, v2

from mobilenet.data.preprocessing import Preprocessing, eval_transform
from mobilenet.tasks.segmentation.loss import IGNORE_INDEX


class _MaskToLong(v2.Transform):
    """The mask as an (H, W) int64 tensor of class indices (what cross-entropy takes)."""

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if isinstance(inpt, tv_tensors.Mask):
            return inpt.as_subclass(torch.Tensor).reshape(inpt.shape[-2:]).long()
        return inpt


def train_transform(pre: Preprocessing, scale_min: float = 0.5, scale_max: float = 2.0, hflip: float = 0.5,
                    color_jitter: float = 0.0) -> v2.Compose:
    size = pre.resolution
    steps: list[Any] = [v2.ToImage(),
                        v2.RandomResize(max(1, round(scale_min * size)), max(2, round(scale_max * size)) + 1,
                                        antialias=True),
                        v2.RandomCrop(size, pad_if_needed=True, fill={tv_tensors.Image: 0, tv_tensors.Mask: IGNORE_INDEX})]
    if hflip > 0:
        steps.append(v2.RandomHorizontalFlip(hflip))
    if color_jitter > 0:
        steps.append(v2.ColorJitter(brightness=color_jitter, contrast=color_jitter, saturation=color_jitter))
    steps += [v2.ToDtype({tv_tensors.Image: torch.float32, "others": None}, scale=True),
              v2.Normalize(list(pre.mean), list(pre.std)), _MaskToLong()]
    return v2.Compose(steps)


class EvalTransform:
    """``(PIL image, mask) -> (normalised image, (H, W) int64 mask)`` at the preprocessing's input size."""

    def __init__(self, pre: Preprocessing) -> None:
        self.image = eval_transform(pre)
        size = (pre.resize, pre.resize) if pre.resize_mode == "squash" else pre.resize
        steps: list[Any] = [v2.Resize(size, interpolation=InterpolationMode.NEAREST)]
        if pre.resize != pre.resolution or pre.resize_mode == "shorter_side":
            steps.append(v2.CenterCrop(pre.resolution))
        self.mask = v2.Compose([*steps, _MaskToLong()])

    def __call__(self, image: Any, mask: Any) -> tuple[torch.Tensor, torch.Tensor]:
        return self.image(image), self.mask(tv_tensors.Mask(mask))
