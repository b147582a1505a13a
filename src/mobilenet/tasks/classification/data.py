"""Classification data: an image folder (``root/<class>/``, or ``train/`` + ``val/``) or the embedded digits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mobilenet.data.digits import digits_splits
from mobilenet.data.folders import ImageFiles, find_classes, folder_splits, scan
from mobilenet.tasks.base import Datasets


def is_digits(data: str | None) -> bool:
    return data in (None, "", "digits")


def build_datasets(config: Any, run_dir: Path | None) -> Datasets:
    """Train and validation sets of ``config.data``; a resumed run reuses ``run_dir/split.json``."""
    if is_digits(config.data):
        train, val, split = digits_splits(config.resolution, config.val_fraction, config.seed)
    else:
        saved = None
        if run_dir is not None and (run_dir / "split.json").is_file():
            saved = json.loads((run_dir / "split.json").read_text())
        train, val, split = folder_splits(config.data, config.val_fraction, config.seed, saved)
    if config.max_images:
        train, val = first_images(train, config.max_images), first_images(val, config.max_images)
    return Datasets(train, val, list(train.classes), split)


def first_images(dataset: Any, count: int) -> Any:
    """The dataset's first ``count`` images (same type, same classes)."""
    if count >= len(dataset):
        return dataset
    keep = dataset.targets[:count]
    if hasattr(dataset, "samples"):
        return type(dataset)(dataset.samples[:count], dataset.classes)
    return type(dataset)(dataset.images[:count], keep, dataset.classes)


def eval_dataset(data: str | None, class_names: list[str], checkpoint: dict[str, Any] | None) -> Any:
    """The evaluation images, with class indices in the model's class order.

    ``data`` None: the run's own validation images (needs a training checkpoint). A folder:
    ``DIR/val/`` when it exists, else the run's saved validation split of ``DIR``, else every
    image under ``DIR/<class>/``; ``digits``: the run's held-out digits.
    """
    config = (checkpoint or {}).get("config") or {}
    if data is None:
        if not config:
            raise ValueError("give the images to evaluate on (a folder of class folders, or 'digits')")
        data = config["data"]
    if is_digits(data):
        if list(class_names) != [str(d) for d in range(10)]:
            raise ValueError(f"the model has {len(class_names)} classes ({', '.join(class_names[:5])}...), not the "
                             "10 digits; evaluate it on its own image folder")
        resolution = (checkpoint or {}).get("preprocessing", {}).get("resolution", 64)
        dataset = digits_splits(resolution, config.get("val_fraction", 0.2), config.get("seed", 0))[1]
        return first_images(dataset, config["max_images"]) if config.get("max_images") else dataset
    root = Path(data)
    split_file = Path(checkpoint["path"]).parent / "split.json" if checkpoint else None
    if (root / "val").is_dir():
        root = root / "val"
    elif split_file is not None and split_file.is_file() and \
            Path(json.loads(split_file.read_text()).get("root", "")).resolve() == root.resolve():
        saved = json.loads(split_file.read_text())
        val = folder_splits(root, config["val_fraction"], config["seed"], saved)[1]
        return first_images(val, config["max_images"]) if config.get("max_images") and data == config["data"] else val
    classes = find_classes(root)
    unknown = sorted(set(classes) - set(class_names))
    if unknown:
        raise ValueError(f"class folder(s) {', '.join(unknown)} of {str(root)!r} are not among the model's classes "
                         f"({', '.join(class_names)})")
    samples = [(path, list(class_names).index(classes[t])) for path, t in scan(root, classes)]
    return ImageFiles(samples, class_names)
