"""Image folders made of real images: the embedded handwritten digits saved as files."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from mobilenet.data.digits import load_digits_images


def write_digit_folder(root: Path, classes: tuple[int, ...] = (0, 1, 2), per_class: int = 16,
                       resolution: int = 32) -> Path:
    """root/<digit>/<n>.png: the first ``per_class`` scans of each digit, upscaled, grayscale PNG."""
    images, targets = load_digits_images(resolution)
    for digit in classes:
        folder = root / str(digit)
        folder.mkdir(parents=True, exist_ok=True)
        picks = [i for i, t in enumerate(targets) if t == digit][:per_class]
        for n, i in enumerate(picks):
            Image.fromarray(images[i, 0].numpy(), mode="L").save(folder / f"{n}.png")
    return root
