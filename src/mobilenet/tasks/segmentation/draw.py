"""Masks as pictures: PASCAL VOC's colour map, a palette PNG of the class indices and an overlay."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from mobilenet.files import atomic_path


def palette(count: int = 256) -> np.ndarray:
    """PASCAL VOC's colour map (``VOCdevkit``'s ``labelcolormap``): class 0 black, 1 dark red, ...;
    the bits of the class index spread over R, G and B."""
    colours = np.zeros((count, 3), dtype=np.uint8)
    for index in range(count):
        c, r, g, b = index, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        colours[index] = (r, g, b)
    return colours


def mask_image(labels: np.ndarray) -> Image.Image:
    """A palette ("P") PNG image: pixel values are the class indices, shown in VOC's colours."""
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    image.putpalette(palette().reshape(-1).tolist())
    return image


def overlay(image: Image.Image, labels: np.ndarray, alpha: float = 0.5) -> Image.Image:
    """The photo with the class colours blended in (background, class 0, left as it is)."""
    colours = palette()[labels]
    photo = np.asarray(image.convert("RGB"), dtype=np.float32)
    blended = np.where(labels[..., None] > 0, (1 - alpha) * photo + alpha * colours, photo)
    return Image.fromarray(blended.round().astype(np.uint8))


def write_mask_and_overlay(image: Image.Image, labels: np.ndarray, path: Path) -> list[Path]:
    """``path``: the overlay; ``<stem>_mask.png`` beside it: the palette mask, both at the photo's size
    (the labels resized by nearest neighbour)."""
    if labels.shape != (image.height, image.width):
        labels = np.asarray(Image.fromarray(labels.astype(np.uint8)).resize(image.size, Image.NEAREST))
    mask_path = path.with_name(f"{path.stem}_mask.png")
    for target, picture in ((path, overlay(image, labels)), (mask_path, mask_image(labels))):
        with atomic_path(target) as temp:
            picture.save(temp, format="PNG")
    return [path, mask_path]
