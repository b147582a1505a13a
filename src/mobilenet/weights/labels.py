"""Class names of the label sets pretrained weights use.

``imagenet1k``: the 1000 ImageNet classes in the standard order (torchvision ships the names);
``imagenet1k+background``: 1001 classes, index 0 "background", as TF-slim checkpoints have.
"""

from __future__ import annotations

import functools

LABEL_SETS = ("imagenet1k", "imagenet1k+background")


@functools.lru_cache(maxsize=None)
def _imagenet() -> tuple[str, ...]:
    from torchvision.models import MobileNet_V2_Weights

    return tuple(MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"])


def class_names(label_set: str) -> list[str]:
    """The class names of ``label_set`` (one of ``LABEL_SETS``), index = class id."""
    if label_set == "imagenet1k":
        return list(_imagenet())
    if label_set == "imagenet1k+background":
        return ["background", *_imagenet()]
    raise ValueError(f"unknown label set {label_set!r}; valid: {', '.join(LABEL_SETS)}")
