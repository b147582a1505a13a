"""Class names of the label sets pretrained weights use.

``imagenet1k``: the 1000 ImageNet classes in the standard order (torchvision ships the names);
``imagenet1k+background``: 1001 classes, index 0 "background", as TF-slim checkpoints have;
``pascal_voc``: the 21 classes of PASCAL VOC segmentation, background first (torchvision's and TF
DeepLab's order).
"""

from __future__ import annotations

import functools

LABEL_SETS = ("imagenet1k", "imagenet1k+background", "pascal_voc")


@functools.lru_cache(maxsize=None)
def _imagenet() -> tuple[str, ...]:
    from torchvision.models import MobileNet_V2_Weights

    return tuple(MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"])


@functools.lru_cache(maxsize=None)
def _pascal_voc() -> tuple[str, ...]:
    from torchvision.models.segmentation import LRASPP_MobileNet_V3_Large_Weights

    names = LRASPP_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1.meta["categories"]
    return tuple("background" if name == "__background__" else name for name in names)


def class_names(label_set: str) -> list[str]:
    """The class names of ``label_set`` (one of ``LABEL_SETS``), index = class id."""
    if label_set == "imagenet1k":
        return list(_imagenet())
    if label_set == "imagenet1k+background":
        return ["background", *_imagenet()]
    if label_set == "pascal_voc":
        return list(_pascal_voc())
    raise ValueError(f"unknown label set {label_set!r}; valid: {', '.join(LABEL_SETS)}")
