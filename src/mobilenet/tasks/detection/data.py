"""Detection datasets for the shared trainer: images with boxes, train/validation splits.

The training set is ``config.data`` (its ``train`` split when it declares splits); the validation
set is ``config.val_data`` when given, else the data's ``val``/``valid``/``validation`` (or ``test``)
split, else a seeded ``val_fraction`` of the images, saved in the run's ``split.json`` so a resumed
run validates on the same images. Validation classes are matched to the training classes by name.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from torchvision import tv_tensors

from mobilenet.data.images import ImageError, open_rgb
from mobilenet.tasks.base import Datasets
from mobilenet.tasks.detection.formats import Annotations, Sample, read_annotations

VAL_SPLITS = ("val", "valid", "validation", "test")


class DetectionSet:
    """Samples with their class names; ``load(i)`` is ``(PIL image, {"boxes": BoundingBoxes (pixels),
    "labels": int64})`` or None for an unreadable image."""

    in_memory = False

    def __init__(self, samples: list[Sample], classes: list[str], source: str = "") -> None:
        self.samples, self.classes, self.source = list(samples), list(classes), source

    def __len__(self) -> int:
        return len(self.samples)

    def describe(self, index: int) -> str:
        return str(self.samples[index].image)

    def boxes_of(self, index: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """Pixel boxes clipped to the image (those left without area dropped) and their labels."""
        sample = self.samples[index]
        boxes = sample.boxes * np.array([width, height, width, height], dtype=np.float32) if sample.normalized \
            else sample.boxes.copy()
        boxes = boxes.reshape(-1, 4)
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        return boxes[keep], sample.labels[keep]

    def load(self, index: int) -> tuple[Any, dict[str, Any]] | None:
        try:
            image = open_rgb(self.samples[index].image)
        except ImageError:
            return None
        width, height = image.size
        boxes, labels = self.boxes_of(index, width, height)
        return image, {"boxes": tv_tensors.BoundingBoxes(torch.from_numpy(boxes), format="XYXY",
                                                         canvas_size=(height, width)),
                       "labels": torch.from_numpy(labels)}

    def subset(self, indices: list[int]) -> DetectionSet:
        return DetectionSet([self.samples[i] for i in indices], self.classes, self.source)

    def with_classes(self, classes: list[str]) -> DetectionSet:
        """The same images with labels renumbered into ``classes`` (an error for a class not among them)."""
        unknown = sorted(set(self.classes) - set(classes))
        used = {self.classes[int(label)] for s in self.samples for label in s.labels}
        if unknown and set(unknown) & used:
            raise ValueError(f"{self.source}: class(es) {', '.join(sorted(set(unknown) & used))} are not among "
                             f"the model's classes ({', '.join(classes)})")
        remap = np.asarray([classes.index(c) if c in classes else -1 for c in self.classes], dtype=np.int64)
        samples = [Sample(s.image, s.boxes, remap[s.labels] if len(s.labels) else s.labels, s.normalized)
                   for s in self.samples]
        return DetectionSet(samples, classes, self.source)


def _as_set(split: Annotations) -> DetectionSet:
    return DetectionSet(split.samples, split.classes, split.source)


def _pick(splits: dict[str, Annotations], names: tuple[str, ...]) -> Annotations | None:
    return next((splits[n] for n in names if n in splits), None)


def random_split(count: int, fraction: float, seed: int) -> list[int]:
    """Validation indices: a seeded ``fraction`` of ``count`` (at least one image)."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed)).tolist()
    return sorted(order[:max(1, round(count * fraction))])


def build_datasets(config: Any, run_dir: Path | None) -> Datasets:
    """Train and validation sets of ``config`` (module docstring)."""
    splits = read_annotations(config.data)
    train_split = _pick(splits, ("train",)) or _pick(splits, ("all",))
    if train_split is None:
        raise ValueError(f"{config.data}: no training split (train) among its splits {', '.join(splits)}; "
                         "give the split's folder or file as data")
    train = _as_set(train_split)
    saved = None
    if run_dir is not None and (run_dir / "split.json").is_file():
        saved = json.loads((run_dir / "split.json").read_text())
    split: dict[str, Any] = {"data": str(config.data), "val_data": config.val_data}
    if config.val_data:
        val_splits = read_annotations(config.val_data)
        val = _as_set(_pick(val_splits, VAL_SPLITS + ("all",)) or next(iter(val_splits.values())))
    elif _pick(splits, VAL_SPLITS) is not None and train_split is not _pick(splits, VAL_SPLITS):
        val = _as_set(_pick(splits, VAL_SPLITS))
    else:
        indices = saved["val_indices"] if saved and "val_indices" in saved else \
            random_split(len(train), config.val_fraction, config.seed)
        held = set(indices)
        val = train.subset(indices)
        train = train.subset([i for i in range(len(train)) if i not in held])
        split["val_indices"] = indices
    val = val.with_classes(train.classes)
    if config.max_images:
        train = train.subset(list(range(min(config.max_images, len(train)))))
        val = val.subset(list(range(min(config.max_images, len(val)))))
    if not len(train) or not len(val):
        raise ValueError(f"{config.data}: {len(train)} training and {len(val)} validation images; both are needed")
    split.update(train_images=len(train), val_images=len(val), classes=train.classes)
    return Datasets(train, val, train.classes, split)


def eval_dataset(data: str | None, class_names: list[str], checkpoint: dict[str, Any] | None) -> DetectionSet:
    """Images to evaluate on: ``data`` (its validation split when it declares one), or the run's own
    validation set; labels in the model's class order."""
    config = (checkpoint or {}).get("config") or {}
    if data is None:
        if not config:
            raise ValueError("give the labelled images to evaluate on (VOC, COCO, YOLO or CSV boxes)")
        run_dir = Path(checkpoint["path"]).parent if checkpoint else None
        settings = SimpleNamespace(**{"val_data": None, "val_fraction": 0.2, "seed": 0, "max_images": 0, **config})
        return build_datasets(settings, run_dir).val.with_classes(list(class_names))
    splits = read_annotations(data)
    chosen = _pick(splits, VAL_SPLITS + ("all",)) or next(iter(splits.values()))
    return _as_set(chosen).with_classes(list(class_names))
