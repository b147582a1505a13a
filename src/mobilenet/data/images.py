"""Images for ``predict`` and training: open any photo as RGB and apply a model's preprocessing.

Grayscale, palette, CMYK and 16-bit images are converted to RGB; transparent ones are laid on
white. Files that are not images, or are truncated, raise ``ImageError`` with the reason, which
``load_images`` turns into a skipped entry so one bad file never stops a batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from mobilenet.data.preprocessing import Preprocessing, eval_transform


class ImageError(ValueError):
    """A file that cannot be used as an image (not an image, truncated, unreadable)."""


def open_rgb(path: str | os.PathLike[str]) -> Image.Image:
    """The image at ``path`` as an 8-bit RGB PIL image (fully decoded)."""
    if Path(path).exists() and not Path(path).is_file():  # a folder, FIFO or device would block or fail
        raise ImageError(f"{path}: not a regular file")
    try:
        with Image.open(path) as image:
            image.load()  # decode now: truncated files fail here, not later
            return to_rgb(image)
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file PIL can read") from None
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except Image.DecompressionBombError as error:
        raise ImageError(f"{path}: refused as a decompression bomb ({error})") from None
    except (OSError, SyntaxError, ValueError) as error:  # PIL reports truncated/corrupt data as OSError
        raise ImageError(f"{path}: cannot decode image ({error})") from None


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB; alpha is composited on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = array.max() or 1.0
        image = Image.fromarray((array / top * 255).astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


@dataclass
class Batch:
    """Preprocessed images that could be read, and the files skipped with their reasons."""

    tensor: torch.Tensor
    paths: list[str]
    skipped: list[tuple[str, str]]


def load_images(paths: Iterable[str | os.PathLike[str]], pre: Preprocessing | dict[str, Any]) -> Batch:
    """Read and preprocess ``paths`` (``eval_transform`` of ``pre``); unreadable files are skipped,
    each with a message."""
    pre = Preprocessing.from_dict(pre)
    transform = eval_transform(pre)
    tensors, ok, skipped = [], [], []
    for path in paths:
        if Path(path).is_dir():
            skipped.append((str(path), f"{path}: is a folder, not an image"))
            continue
        try:
            tensors.append(transform(open_rgb(path)))
            ok.append(str(path))
        except ImageError as error:
            skipped.append((str(path), str(error)))
    tensor = torch.stack(tensors) if tensors else torch.empty(0, 3, pre.resolution, pre.resolution)
    return Batch(tensor, ok, skipped)
