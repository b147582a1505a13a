"""Images for export checks, calibration and accuracy, prepared as the model expects
(``mobilenet.data.preprocessing``: the same record travels inside the exported file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import torch
from torchvision.datasets.folder import IMG_EXTENSIONS as IMAGE_EXTENSIONS

from mobilenet.data.folders import ImageFiles, find_classes, scan
from mobilenet.data.images import open_rgb
from mobilenet.data.preprocessing import Preprocessing, eval_transform


def list_images(folder: str | Path, what: str = "image folder") -> list[Path]:
    """Every image below ``folder`` (recursively, sorted), or ``[folder]`` for one file; clear errors."""
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"{what} {str(folder)!r} does not exist; pass a folder of images")
    if folder.is_file():
        return [folder]
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not paths:
        raise FileNotFoundError(f"{what} {str(folder)!r} has no images ({', '.join(IMAGE_EXTENSIONS)}); "
                                "put some there")
    return paths


def load_images(paths: list[Path], pre: Preprocessing | Mapping[str, Any]) -> torch.Tensor:
    """A batch ``(N, 3, H, W)`` of preprocessed images."""
    transform = eval_transform(pre)
    return torch.stack([transform(open_rgb(p)) for p in paths])


def batches(paths: list[Path], pre: Preprocessing | Mapping[str, Any], batch_size: int) -> Iterator[np.ndarray]:
    """Preprocessed float32 numpy batches of ``paths`` (the feed of an ONNX session)."""
    for start in range(0, len(paths), batch_size):
        yield load_images(paths[start:start + batch_size], pre).numpy()


def labelled_images(folder: str | Path) -> ImageFiles:
    """A class-per-folder tree (``folder/<class>/<image>``) as (path, class index) samples."""
    folder = Path(folder)
    classes = find_classes(folder)
    return ImageFiles(scan(folder, classes), classes)
