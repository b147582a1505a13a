"""The embedded default dataset: 1,797 real 8x8 scans of handwritten digits (UCI optdigits test set).

No download: ``digits.npz`` (46 kB) ships with the package. It is scikit-learn's copy
(``load_digits``) of the test set of the UCI "Optical Recognition of Handwritten Digits" data set
(Alpaydin and Kaynak, 1998; CC BY 4.0), written once by ``tools/make_digits.py``: the same values
(0..16) and labels. The images are upscaled once (bilinear) to the model's resolution and kept in
memory as uint8, so the augmentations see a normal-sized image.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from mobilenet.data.split import stratified_split

CLASS_NAMES = tuple(str(d) for d in range(10))


class TensorImages(Dataset):
    """uint8 images (N, 1 or 3, H, W) in memory with integer targets; yields (3, H, W) tensors."""

    in_memory = True  # decoding is free: DataLoader workers would only add copies

    def __init__(self, images: torch.Tensor, targets: list[int], classes: tuple[str, ...]) -> None:
        self.images, self.targets, self.classes = images, list(targets), tuple(classes)

    def __len__(self) -> int:
        return len(self.targets)

    def load(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index]
        return (image.expand(3, -1, -1).contiguous() if image.shape[0] == 1 else image), self.targets[index]

    def describe(self, index: int) -> str:
        return f"digits[{index}]"


def load_digits_images(resolution: int) -> tuple[torch.Tensor, list[int]]:
    """All 1,797 digits as uint8 (N, 1, resolution, resolution), white strokes on black."""
    scans, targets = load_scans()
    pixels = torch.from_numpy(scans).float().unsqueeze(1) / 16.0  # the scans use 0..16
    upscaled = F.interpolate(pixels, size=(resolution, resolution), mode="bilinear", align_corners=False)
    images = (upscaled.clamp(0, 1) * 255).round().to(torch.uint8)
    return images, [int(t) for t in targets]


def load_scans() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 original 8x8 scans (uint8, 0..16) and their labels (0..9), as shipped."""
    with resources.files("mobilenet.data").joinpath("digits.npz").open("rb") as handle, np.load(handle) as data:
        return data["images"], data["targets"]


def digits_splits(resolution: int, val_fraction: float, seed: int) -> tuple[TensorImages, TensorImages, dict]:
    """Train and validation sets split by a seeded, stratified split; the split is returned to save."""
    images, targets = load_digits_images(resolution)
    train_idx, val_idx = stratified_split(targets, val_fraction, seed)
    split = {"kind": "digits", "seed": seed, "val_fraction": val_fraction, "train": train_idx, "val": val_idx}
    return (
        TensorImages(images[train_idx], [targets[i] for i in train_idx], CLASS_NAMES),
        TensorImages(images[val_idx], [targets[i] for i in val_idx], CLASS_NAMES),
        split,
    )
