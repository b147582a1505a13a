"""Images for export checks, calibration and accuracy, prepared as the model was trained.

The preprocessing is the training checkpoint's record (``mobilenet.data.transforms.preprocessing``:
resolution, crop_pct, mean, std) and travels inside the exported file (ONNX ``metadata_props``),
because a model fed differently-normalised pixels silently loses points (keras-team/tf-keras#443,
onnx/models#609).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from mobilenet.data.folders import ImageFiles, find_classes, scan
from mobilenet.data.images import open_rgb
from mobilenet.data.transforms import eval_transform, preprocessing
from torchvision.datasets.folder import IMG_EXTENSIONS as IMAGE_EXTENSIONS

Preprocessing = dict[str, Any]
CROP_PCT = 0.875  # resize the short side to resolution / 0.875, then centre-crop


def default_preprocessing(resolution: int) -> Preprocessing:
    """ImageNet normalisation and the usual 0.875 centre crop (models without a training record)."""
    return preprocessing(resolution, CROP_PCT)


def at_resolution(pre: Preprocessing, resolution: int) -> Preprocessing:
    """The same normalisation and crop fraction at another input size."""
    return {**pre, "resolution": int(resolution)}


def described(pre: Preprocessing) -> Preprocessing:
    """``pre`` with what a runtime without this package needs spelled out (resize size, layout, scale)."""
    return {**pre, "resize": int(round(pre["resolution"] / pre["crop_pct"])), "layout": "NCHW",
            "scale": "pixels / 255, then (x - mean) / std"}


def list_images(folder: str | Path, what: str = "image folder") -> list[Path]:
    """Every image below ``folder`` (recursively, sorted), or ``[folder]`` for one file; clear errors."""
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"{what} {str(folder)!r} does not exist; pass a folder of images")
    if folder.is_file():
        return [folder]
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not paths:
        raise FileNotFoundError(f"{what} {str(folder)!r} has no images ({', '.join(IMAGE_EXTENSIONS)}); "
                                "put some there")
    return paths


def load_images(paths: list[Path], pre: Preprocessing) -> torch.Tensor:
    """A batch ``(N, 3, H, W)`` of preprocessed images."""
    transform = eval_transform(pre)
    return torch.stack([transform(open_rgb(p)) for p in paths])


def batches(paths: list[Path], pre: Preprocessing, batch_size: int) -> Iterator[np.ndarray]:
    """Preprocessed float32 numpy batches of ``paths`` (the feed of an ONNX session)."""
    for start in range(0, len(paths), batch_size):
        yield load_images(paths[start:start + batch_size], pre).numpy()


def labelled_images(folder: str | Path) -> ImageFiles:
    """A class-per-folder tree (``folder/<class>/<image>``) as (path, class index) samples."""
    folder = Path(folder)
    classes = find_classes(folder)
    return ImageFiles(scan(folder, classes), classes)
