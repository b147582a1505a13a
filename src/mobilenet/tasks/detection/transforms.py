"""Detection transforms on ``(image, {"boxes": BoundingBoxes, "labels"})`` with ``torchvision.transforms.v2``.

Training: SSD's augmentation (SSD paper §2.2 "Data augmentation", torchvision's SSD reference):
photometric distortion, zoom out (the image on a canvas up to ``zoom_out`` times larger, filled
with the mean), a random crop that keeps some box at an IoU of 0.1-0.9, horizontal flip, then the
whole image squashed to the input size; boxes that lost their area are dropped
(``SanitizeBoundingBoxes``). Evaluation: the model's ``eval_transform``; boxes need no transform,
because a squashed image keeps normalised coordinates.

Both end with the target as normalised ``(x1, y1, x2, y2)`` boxes, labels and the original
``size`` (h, w), which evaluation uses to measure boxes in pixels.
"""

from __future__ import annotations

from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from mobilenet.data.preprocessing import INTERPOLATIONS, Preprocessing, eval_transform, to_tensor_steps


def normalized_target(target: dict[str, Any], size: tuple[int, int], original: tuple[int, int]) -> dict[str, Any]:
    """Boxes of an image of ``size`` (h, w) as fractions of it; ``original`` (h, w) kept for evaluation."""
    boxes = torch.as_tensor(target["boxes"], dtype=torch.float32).reshape(-1, 4)
    height, width = size
    scale = torch.tensor([width, height, width, height], dtype=torch.float32)
    return {"boxes": boxes / scale, "labels": torch.as_tensor(target["labels"], dtype=torch.int64),
            "size": torch.tensor(original)}


class TrainTransform:
    """SSD augmentation, then the input size and normalisation of ``pre``."""

    def __init__(self, pre: Preprocessing, hflip: float = 0.5, zoom_out: float = 4.0, iou_crop: bool = True,
                 photometric: bool = True) -> None:
        if zoom_out < 1.0:
            raise ValueError(f"zoom_out must be >= 1 (1 = off), got {zoom_out!r}")
        fill = tuple(round(255 * m) for m in pre.mean)
        steps: list[Any] = [v2.ToImage()]
        if photometric:
            steps.append(v2.RandomPhotometricDistort(p=0.5))
        if zoom_out > 1.0:
            steps.append(v2.RandomZoomOut(fill={tv_tensors.Image: fill, "others": 0}, side_range=(1.0, zoom_out), p=0.5))
        if iou_crop:
            steps.append(v2.RandomIoUCrop())
        if hflip > 0:
            steps.append(v2.RandomHorizontalFlip(hflip))
        steps += [v2.Resize((pre.resolution, pre.resolution), interpolation=INTERPOLATIONS[pre.interpolation],
                            antialias=pre.antialias), v2.SanitizeBoundingBoxes()]
        self.geometry = v2.Compose(steps)
        self.tensor = v2.Compose(to_tensor_steps(pre)[1:])   # ToDtype + Normalize
        self.resolution = pre.resolution

    def __call__(self, image: Any, target: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
        original = (image.size[1], image.size[0]) if hasattr(image, "size") and not callable(image.size) \
            else tuple(image.shape[-2:])
        image, target = self.geometry(image, target)
        return self.tensor(image), normalized_target(target, (self.resolution, self.resolution), original)


class EvalTransform:
    """The model's evaluation transform for the image; normalised boxes from the original size."""

    def __init__(self, pre: Preprocessing) -> None:
        self.image = eval_transform(pre)

    def __call__(self, image: Any, target: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
        original = (image.size[1], image.size[0])
        return self.image(image), normalized_target(target, original, original)
