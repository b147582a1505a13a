"""Segmentation data: images with per-pixel class masks, in the layouts torchvision and mmsegmentation users have.

- **Image/mask folder pairs:** ``DIR/<name>.jpg`` with ``DIR/<name>.png`` (same stem, another suffix
  or a ``masks/`` or ``labels/`` sub-folder) or ``DIR/<name>_mask.png`` (Roboflow's export).
- **PASCAL VOC:** ``ROOT/JPEGImages/*.jpg`` + ``ROOT/SegmentationClass/*.png`` (palette PNGs, read as
  indices), split by ``ROOT/ImageSets/Segmentation/{train,val}.txt``; the 21 VOC classes.
- A training folder ``DIR`` takes its evaluation images from ``val_data``, or a ``val/``, ``valid/`` or
  ``test/`` folder beside a ``train/`` one, or a seeded split (saved with the run).

Masks are 8-bit index images (``L`` or ``P``): pixel value = class index, 255 = ignore (VOC's
borders). Class names come from ``_classes.csv`` (Roboflow: ``Pixel Value, Class``) or
``classes.txt`` (one per line) beside the images, else they are the indices the masks hold.
Every mask is checked when the set is built: one whose size differs from its image, or holding
values outside the class list, is an error naming the file.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.datasets.folder import IMG_EXTENSIONS

from mobilenet.data.images import ImageError, open_rgb
from mobilenet.tasks.base import Datasets
from mobilenet.tasks.segmentation.loss import IGNORE_INDEX
from mobilenet.weights.labels import class_names as label_set

MASK_SUFFIXES = (".png", ".bmp", ".tif", ".tiff", ".gif")
MASK_FOLDERS = ("masks", "labels", "annotations", "SegmentationClass")
VAL_FOLDERS = ("val", "valid", "test")


def read_mask(path: str | Path) -> np.ndarray:
    """A mask file as an (H, W) uint8 array of class indices (palette PNGs give their indices)."""
    try:
        with Image.open(path) as image:
            if image.mode not in ("L", "P", "I", "I;16"):
                raise ValueError(f"mask {path} is a {image.mode} image; masks hold one class index per pixel "
                                 "(8-bit grayscale or palette PNG)")
            values = np.asarray(image)
    except (OSError, SyntaxError) as error:
        raise ValueError(f"cannot read mask {path}: {error}") from None
    if values.max(initial=0) > 255:
        raise ValueError(f"mask {path} holds values up to {values.max()}; class indices must be below 255 "
                         "(255 = ignore)")
    return values.astype(np.uint8)


@dataclass
class SegmentationFiles:
    """Image and mask files; ``load`` gives (RGB PIL image, ``tv_tensors.Mask``), or None for an
    unreadable image (skipped and counted by the trainer)."""

    samples: list[tuple[str, str]]
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> tuple[Image.Image, tv_tensors.Mask] | None:
        image_path, mask_path = self.samples[index]
        try:
            image = open_rgb(image_path)
        except (ImageError, Image.DecompressionBombError):
            return None
        return image, tv_tensors.Mask(torch.from_numpy(read_mask(mask_path)))

    def describe(self, index: int) -> str:
        return self.samples[index][0]

    def check(self) -> None:
        """Every mask fits its image and holds only known classes (or 255); a ValueError names the file."""
        for image_path, mask_path in self.samples:
            with Image.open(image_path) as image:
                size = image.size
            mask = read_mask(mask_path)
            if (mask.shape[1], mask.shape[0]) != size:
                raise ValueError(f"mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} but its image {image_path} "
                                 f"is {size[0]}x{size[1]}")
            bad = sorted(int(v) for v in np.unique(mask) if v != IGNORE_INDEX and v >= len(self.classes))
            if bad:
                raise ValueError(f"mask {mask_path} holds class value(s) {', '.join(map(str, bad[:5]))} outside the "
                                 f"{len(self.classes)} classes ({', '.join(self.classes[:12])}"
                                 f"{' ...' if len(self.classes) > 12 else ''}); 255 marks ignored pixels")


def _images(folder: Path) -> list[Path]:
    """The photos of ``folder``: not ``*_mask.png``, nor a ``<stem>.png`` beside a ``<stem>.jpg``."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS]
    photos = {p.stem for p in files if p.suffix.lower() not in MASK_SUFFIXES}
    return sorted(p for p in files if not (p.suffix.lower() in MASK_SUFFIXES
                                           and (p.stem.endswith("_mask") or p.stem in photos)))


def find_mask(image: Path) -> Path | None:
    """The mask of ``image``: ``<stem>_mask.*``, ``<stem>.png`` beside it, or ``<stem>.*`` in a masks folder."""
    folder, stem = image.parent, image.stem
    candidates = [folder / f"{stem}_mask{s}" for s in MASK_SUFFIXES]
    candidates += [folder / f"{stem}{s}" for s in MASK_SUFFIXES if s != image.suffix.lower()]
    candidates += [folder / sub / f"{stem}{s}" for sub in MASK_FOLDERS for s in MASK_SUFFIXES]
    candidates += [folder.parent / sub / f"{stem}{s}" for sub in MASK_FOLDERS for s in MASK_SUFFIXES]
    return next((c for c in candidates if c.is_file()), None)


def read_class_names(folder: Path) -> list[str] | None:
    """Class names from ``_classes.csv`` (``value, name`` rows) or ``classes.txt`` in ``folder``."""
    table = folder / "_classes.csv"
    if table.is_file():
        rows = [r for r in csv.reader(table.read_text().splitlines()) if r and r[0].strip().isdigit()]
        names = {int(r[0]): r[1].strip() for r in rows if len(r) >= 2}
        if sorted(names) != list(range(len(names))):
            raise ValueError(f"{table} must list the pixel values 0..N-1, got {sorted(names)}")
        return [names[i] for i in range(len(names))]
    text = folder / "classes.txt"
    if text.is_file():
        return [line.strip() for line in text.read_text().splitlines() if line.strip()]
    return None


def is_voc(root: Path) -> bool:
    return (root / "JPEGImages").is_dir() and (root / "SegmentationClass").is_dir()


def voc_split(root: Path, split: str) -> SegmentationFiles:
    """The VOC images of ``ImageSets/Segmentation/<split>.txt`` with their class masks."""
    listing = root / "ImageSets" / "Segmentation" / f"{split}.txt"
    if not listing.is_file():
        raise FileNotFoundError(f"{listing} not found; a PASCAL VOC root has ImageSets/Segmentation/train.txt and val.txt")
    samples = []
    for name in listing.read_text().split():
        image, mask = root / "JPEGImages" / f"{name}.jpg", root / "SegmentationClass" / f"{name}.png"
        if not mask.is_file():
            raise FileNotFoundError(f"{listing} lists {name}, whose mask {mask} is missing")
        samples.append((str(image), str(mask)))
    return SegmentationFiles(samples, tuple(label_set("pascal_voc")))


def pair_folder(folder: str | Path, classes: Sequence[str] | None = None) -> SegmentationFiles:
    """The image/mask pairs of ``folder`` (see the module docstring); images without a mask are an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"data folder {str(folder)!r} not found; pass a folder of images with masks "
                                "(<name>.jpg + <name>_mask.png or <name>.png) or a PASCAL VOC root")
    images = _images(folder)
    if not images:
        raise ValueError(f"{str(folder)!r} has no images ({', '.join(IMG_EXTENSIONS)})")
    samples, missing = [], []
    for image in images:
        mask = find_mask(image)
        (samples.append((str(image), str(mask))) if mask else missing.append(image.name))
    if missing:
        raise ValueError(f"{len(missing)} image(s) of {str(folder)!r} have no mask (first: {missing[0]}); a mask is "
                         "<name>_mask.png, <name>.png or masks/<name>.png")
    names = read_class_names(folder) or (list(classes) if classes else None)
    if names is None:  # the indices the masks hold
        top = 0
        for _, mask_path in samples:
            values = read_mask(mask_path)
            top = max(top, int(values[values != IGNORE_INDEX].max(initial=0)))
        names = [str(i) for i in range(top + 1)]
    return SegmentationFiles(samples, tuple(names))


def _val_folder(root: Path) -> Path | None:
    if not (root / "train").is_dir():
        return None
    return next((root / name for name in VAL_FOLDERS if (root / name).is_dir()), None)


def _subset(files: SegmentationFiles, images: list[str]) -> SegmentationFiles:
    by_image = dict(files.samples)
    missing = [p for p in images if p not in by_image]
    if missing:
        raise FileNotFoundError(f"{len(missing)} image(s) of the saved split are gone (first: {missing[0]}); "
                                "restore them or start a new run")
    return SegmentationFiles([(p, by_image[p]) for p in images], files.classes)


def splits(data: str, val_data: str | None, val_fraction: float, seed: int,
           saved: dict[str, Any] | None) -> tuple[SegmentationFiles, SegmentationFiles, dict[str, Any]]:
    """Train and evaluation sets of ``data`` (see the module docstring) and the split record."""
    root = Path(data)
    if is_voc(root):
        train, val = voc_split(root, "train"), voc_split(root, "val")
        return train, val, {"kind": "voc", "root": str(root)}
    if val_data is not None or _val_folder(root) is not None:
        train_folder = root / "train" if val_data is None else root
        train = pair_folder(train_folder)
        val = pair_folder(val_data if val_data is not None else _val_folder(root), train.classes)
        if list(val.classes) != list(train.classes):
            raise ValueError(f"the evaluation classes ({', '.join(val.classes)}) differ from the training classes "
                             f"({', '.join(train.classes)})")
        return train, val, {"kind": "folders", "train": str(train_folder), "val": str(val_data or _val_folder(root))}
    files = pair_folder(root)
    if saved is not None and saved.get("kind") == "split":
        return _subset(files, saved["train"]), _subset(files, saved["val"]), saved
    order = [p for p, _ in files.samples]
    random.Random(seed).shuffle(order)
    count = max(1, round(len(order) * val_fraction))
    if count >= len(order):
        raise ValueError(f"{str(root)!r} has {len(order)} image(s): too few to hold out {val_fraction:.0%} for "
                         "evaluation; give val_data or a val/ folder")
    val_images, train_images = sorted(order[:count]), sorted(order[count:])
    split = {"kind": "split", "root": str(root), "seed": seed, "val_fraction": val_fraction,
             "train": train_images, "val": val_images}
    return _subset(files, train_images), _subset(files, val_images), split


def first(files: SegmentationFiles, count: int) -> SegmentationFiles:
    return files if not count or count >= len(files) else SegmentationFiles(files.samples[:count], files.classes)


def build_datasets(config: Any, run_dir: Path | None) -> Datasets:
    """The run's sets (``config.data``, ``config.val_data``); a resumed run reuses ``split.json``."""
    if config.data in (None, "", "digits"):
        raise ValueError("segmentation needs data: a folder of images with masks, or a PASCAL VOC root")
    saved = None
    if run_dir is not None and (run_dir / "split.json").is_file():
        saved = json.loads((run_dir / "split.json").read_text())
    train, val, split = splits(config.data, config.val_data, config.val_fraction, config.seed, saved)
    train, val = first(train, config.max_images), first(val, config.max_images)
    train.check()
    val.check()
    return Datasets(train, val, list(train.classes), split)


def eval_dataset(data: str | None, class_names: list[str], checkpoint: dict[str, Any] | None) -> SegmentationFiles:
    """The images to evaluate on: ``data`` (a pairs folder, or a VOC root's val split), or the run's own
    evaluation set when ``data`` is None and ``checkpoint`` is a training checkpoint."""
    config = (checkpoint or {}).get("config") or {}
    if data is None:
        if not config:
            raise ValueError("give the images to evaluate on (a folder of images with masks, or a PASCAL VOC root)")
        saved_path = Path(checkpoint["path"]).parent / "split.json"
        saved = json.loads(saved_path.read_text()) if saved_path.is_file() else None
        files = splits(config["data"], config.get("val_data"), config.get("val_fraction", 0.2), config.get("seed", 0),
                       saved)[1]
        files = first(files, config.get("max_images", 0))
    else:
        root = Path(data)
        files = voc_split(root, "val") if is_voc(root) else pair_folder(root, class_names)
    if len(files.classes) > len(class_names) or list(files.classes) != list(class_names)[:len(files.classes)]:
        raise ValueError(f"the data's classes ({', '.join(files.classes)}) are not the model's "
                         f"({', '.join(class_names)})")
    files = SegmentationFiles(files.samples, tuple(class_names))
    files.check()
    return files
