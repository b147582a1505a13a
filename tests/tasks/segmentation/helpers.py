"""Helpers of the segmentation tests: synthetic photos with masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("background", "square", "bar")
COLOURS = ((30, 30, 30), (220, 40, 40), (40, 200, 60))


def write_pairs(folder: Path, count: int, size: tuple[int, int] = (48, 40), seed: int = 0,
                mask_style: str = "_mask", classes_file: bool = True) -> None:
    """``count`` synthetic photos (a red square and a green bar on grey, with noise) and their masks:
    ``<name>.png`` + ``<name>_mask.png`` (or ``masks/<name>.png`` for ``mask_style="folder"``)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    width, height = size
    for i in range(count):
        mask = np.zeros((height, width), np.uint8)
        x, y = rng.integers(0, width // 2), rng.integers(0, height // 2)
        mask[y:y + height // 3, x:x + width // 3] = 1
        mask[:, (i * 7) % width: (i * 7) % width + 4] = 2
        mask[0, :] = 255  # a border of ignored pixels, as VOC's
        image = np.array(COLOURS, np.float32)[np.where(mask == 255, 0, mask)]
        image = np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)
        Image.fromarray(image).save(folder / f"img{i:03d}.png")
        if mask_style == "folder":
            (folder / "masks").mkdir(exist_ok=True)
            Image.fromarray(mask).save(folder / "masks" / f"img{i:03d}.png")
        else:
            Image.fromarray(mask).save(folder / f"img{i:03d}_mask.png")
    if classes_file:
        (folder / "_classes.csv").write_text("Pixel Value, Class\n" + "".join(f"{i}, {n}\n" for i, n in enumerate(CLASSES)))
