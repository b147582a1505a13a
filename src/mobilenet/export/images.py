"""Images for export checks, calibration and accuracy: the preprocessing an exported model expects.

The preprocessing travels inside the exported file (ONNX ``metadata_props``), because a model fed
differently-normalised pixels silently loses points (keras-team/tf-keras#443, onnx/models#609).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from PIL import Image
from torchvision import datasets, transforms

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CROP_FRACTION = 0.875  # resize the short side to resolution / 0.875, centre-crop resolution


@dataclass(frozen=True)
class Preprocess:
    """RGB image -> float tensor: resize short side, centre crop, scale to [0, 1], normalise."""

    resolution: int
    resize: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bilinear"
    layout: str = "NCHW"
    color: str = "RGB"

    @classmethod
    def default(cls, resolution: int, mean: tuple[float, ...] = IMAGENET_MEAN,
                std: tuple[float, ...] = IMAGENET_STD) -> Preprocess:
        return cls(resolution, int(round(resolution / CROP_FRACTION)), tuple(mean), tuple(std))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocess:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        for key in ("mean", "std"):
            if key in known:
                known[key] = tuple(float(v) for v in known[key])
        return cls(**known)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    def transform(self) -> transforms.Compose:
        mode = transforms.InterpolationMode(self.interpolation)
        return transforms.Compose([
            transforms.Resize(self.resize, interpolation=mode),
            transforms.CenterCrop(self.resolution),
            transforms.ToTensor(),
            transforms.Normalize(self.mean, self.std),
        ])


def list_images(folder: str | Path, what: str = "image folder") -> list[Path]:
    """Every image below ``folder`` (recursively, sorted); a clear error when there is none."""
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"{what} {str(folder)!r} does not exist; pass a folder of images")
    if folder.is_file():
        return [folder]
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not paths:
        raise FileNotFoundError(
            f"{what} {str(folder)!r} has no images ({', '.join(IMAGE_EXTENSIONS)}); put some there"
        )
    return paths


def load_images(paths: list[Path], preprocess: Preprocess) -> torch.Tensor:
    """A batch ``(N, 3, H, W)`` of preprocessed images."""
    transform = preprocess.transform()
    return torch.stack([transform(Image.open(p).convert("RGB")) for p in paths])


def batches(paths: list[Path], preprocess: Preprocess, batch_size: int) -> Iterator[np.ndarray]:
    """Preprocessed float32 numpy batches of ``paths`` (the feed of an ONNX session)."""
    for start in range(0, len(paths), batch_size):
        yield load_images(paths[start:start + batch_size], preprocess).numpy()


def labelled_folder(folder: str | Path, preprocess: Preprocess) -> datasets.ImageFolder:
    """An ``ImageFolder`` (one sub-folder per class) with the model's preprocessing."""
    folder = Path(folder)
    list_images(folder, "validation folder")
    return datasets.ImageFolder(str(folder), transform=preprocess.transform())
