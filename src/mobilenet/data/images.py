"""Images for ``predict``: open any photo as RGB and apply a weights record's preprocessing.

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
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

INTERPOLATIONS = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
                  "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}


class ImageError(ValueError):
    """A file that cannot be used as an image (not an image, truncated, unreadable)."""


def open_rgb(path: str | os.PathLike[str]) -> Image.Image:
    """The image at ``path`` as an 8-bit RGB PIL image (fully decoded)."""
    try:
        with Image.open(path) as image:
            image.load()  # decode now: truncated files fail here, not later
            return to_rgb(image)
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file PIL can read") from None
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
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


def resize_like_tf(image: Image.Image, size: tuple[int, int], interpolation: str) -> Image.Image:
    """Resize without antialiasing, sampling at half-pixel centres (TF2 ``tf.image.resize``,
    TF1 ``resize_bilinear(half_pixel_centers=True)``), rounded back to 8 bits."""
    modes = {"bilinear": "bilinear", "bicubic": "bicubic", "nearest": "nearest-exact"}
    if interpolation not in modes:
        raise ValueError(f"interpolation {interpolation!r} has no antialias=False form; valid: {', '.join(modes)}")
    # float64: in float32 the sums depend on the thread count, and rounding then flips pixels by 1.
    pixels = torch.from_numpy(np.asarray(image, dtype=np.float64)).permute(2, 0, 1)[None]
    resized = F.interpolate(pixels, size=(size[1], size[0]), mode=modes[interpolation], align_corners=None
                            if interpolation == "nearest" else False, antialias=False)
    return Image.fromarray(resized[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy())


def preprocess(image: Image.Image, pre: dict[str, Any]) -> torch.Tensor:
    """A (3, H, W) float tensor: resized, cropped and normalised as ``pre`` says.

    ``pre``: ``resolution``, ``crop_pct`` (resize to ``resolution / crop_pct`` then center-crop),
    ``resize_mode`` (``shorter_side`` keeps the aspect ratio, ``squash`` does not),
    ``interpolation``, ``antialias`` (False: ``resize_like_tf``), ``mean``, ``std`` (on [0, 1]
    pixel values).
    """
    resolution = int(pre["resolution"])
    size = int(round(resolution / float(pre.get("crop_pct", 1.0))))
    resample = INTERPOLATIONS.get(pre.get("interpolation", "bilinear"))
    if resample is None:
        raise ValueError(f"unknown interpolation {pre['interpolation']!r}; valid: {', '.join(INTERPOLATIONS)}")
    width, height = image.size
    if pre.get("resize_mode", "shorter_side") == "squash":
        new_size = (size, size)
    else:
        scale = size / min(width, height)
        new_size = (max(size, round(width * scale)), max(size, round(height * scale)))
    if new_size != image.size and not pre.get("antialias", True):
        image = resize_like_tf(image, new_size, pre.get("interpolation", "bilinear"))
    elif new_size != image.size:
        image = image.resize(new_size, resample)
    left, top = (new_size[0] - resolution) // 2, (new_size[1] - resolution) // 2
    if (left, top) != (0, 0) or new_size != (resolution, resolution):
        image = image.crop((left, top, left + resolution, top + resolution))
    pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)
    mean = torch.tensor(pre.get("mean", (0.0, 0.0, 0.0)), dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(pre.get("std", (1.0, 1.0, 1.0)), dtype=torch.float32).view(3, 1, 1)
    return (pixels - mean) / std


@dataclass
class Batch:
    """Preprocessed images that could be read, and the files skipped with their reasons."""

    tensor: torch.Tensor
    paths: list[str]
    skipped: list[tuple[str, str]]


def load_images(paths: Iterable[str | os.PathLike[str]], pre: dict[str, Any]) -> Batch:
    """Read and preprocess ``paths``; unreadable files are skipped, each with a message."""
    tensors, ok, skipped = [], [], []
    for path in paths:
        if Path(path).is_dir():
            skipped.append((str(path), f"{path}: is a folder, not an image"))
            continue
        try:
            tensors.append(preprocess(open_rgb(path), pre))
            ok.append(str(path))
        except ImageError as error:
            skipped.append((str(path), str(error)))
    resolution = int(pre["resolution"])
    tensor = torch.stack(tensors) if tensors else torch.empty(0, 3, resolution, resolution)
    return Batch(tensor, ok, skipped)
