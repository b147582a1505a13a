"""Image folders in the ImageFolder layout: ``root/<class>/<image>``, with ``train/`` and ``val/``
sub-folders or one folder split into train/val (seeded, stratified, saved with the run).

Decoding (``mobilenet.data.images.open_rgb``, shared with ``predict``) converts grayscale, palette,
RGBA and CMYK images to RGB. An unreadable or truncated file
is not fatal: the loader returns None for it and the training loop counts the skipped files in one
warning. An empty class folder, or a root without class folders, is a clear error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from PIL import Image
from torch.utils.data import Dataset
from torchvision.datasets.folder import IMG_EXTENSIONS

from mobilenet.data.images import ImageError, open_rgb
from mobilenet.data.split import stratified_split

def find_classes(root: Path) -> list[str]:
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {str(root)!r} not found; pass a folder of class sub-folders "
                                "(root/<class>/<image>) or 'digits'")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ValueError(f"{str(root)!r} has no class folders; expected root/<class>/<image>.jpg "
                         "(or root/train/<class>/... and root/val/<class>/...)")
    return classes


def scan(root: Path, classes: Sequence[str]) -> list[tuple[str, int]]:
    """(path, class index) of every image file under ``root/<class>/`` (recursively), sorted."""
    samples: list[tuple[str, int]] = []
    for index, name in enumerate(classes):
        folder = root / name
        if not folder.is_dir():
            raise ValueError(f"class folder {str(folder)!r} is missing; train/ and val/ need the same class "
                             f"folders ({', '.join(classes)})")
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS)
        if not files:
            raise ValueError(f"class folder {str(folder)!r} has no images ({', '.join(IMG_EXTENSIONS)}); "
                             "add images or remove the folder")
        samples += [(str(p), index) for p in files]
    return samples


class ImageFiles(Dataset):
    """Image files with class indices; ``load`` gives (RGB PIL image, class index), or None if unreadable."""

    def __init__(self, samples: Sequence[tuple[str, int]], classes: Sequence[str]) -> None:
        self.samples, self.classes = list(samples), tuple(classes)
        self.targets = [t for _, t in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> tuple[Image.Image, int] | None:
        try:
            return open_rgb(self.samples[index][0]), self.targets[index]
        except (ImageError, Image.DecompressionBombError):
            return None

    def describe(self, index: int) -> str:
        return self.samples[index][0]


def folder_splits(root: str | Path, val_fraction: float, seed: int,
                  saved_split: dict | None = None) -> tuple[ImageFiles, ImageFiles, dict]:
    """Train and validation sets of an image folder, and the split to save with the run.

    ``root/train`` + ``root/val`` are used as they are; otherwise ``root/<class>`` is split with a
    seeded stratified split, or with ``saved_split`` (a resumed run keeps its split).
    """
    root = Path(root)
    if (root / "train").is_dir() and (root / "val").is_dir():
        classes = find_classes(root / "train")
        train, val = scan(root / "train", classes), scan(root / "val", classes)
        extra = sorted(set(find_classes(root / "val")) - set(classes))
        if extra:
            raise ValueError(f"val/ has classes that train/ lacks: {', '.join(extra)}")
        split = {"kind": "folders", "root": str(root), "classes": classes}
        return ImageFiles(train, classes), ImageFiles(val, classes), split
    classes = find_classes(root)
    samples = scan(root, classes)
    if saved_split is not None and saved_split.get("kind") == "split":
        by_path = {path: i for i, (path, _) in enumerate(samples)}
        missing = [p for p in saved_split["train"] + saved_split["val"] if p not in by_path]
        if missing:
            raise FileNotFoundError(f"{len(missing)} image(s) of the saved split are gone (first: {missing[0]}); "
                                    "restore them or start a new run")
        train_idx = [by_path[p] for p in saved_split["train"]]
        val_idx = [by_path[p] for p in saved_split["val"]]
    else:
        train_idx, val_idx = stratified_split([t for _, t in samples], val_fraction, seed)
    split = {"kind": "split", "root": str(root), "classes": classes, "seed": seed, "val_fraction": val_fraction,
             "train": [samples[i][0] for i in train_idx], "val": [samples[i][0] for i in val_idx]}
    return (ImageFiles([samples[i] for i in train_idx], classes),
            ImageFiles([samples[i] for i in val_idx], classes), split)
