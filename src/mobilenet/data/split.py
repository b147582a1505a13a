"""A seeded, stratified train/validation split (each class keeps its share in both parts).

Written with torch rather than scikit-learn's ``train_test_split``: importing the latter's
stratification path (scipy) made PyTorch's CPU training ~50x slower in the same process
(competing OpenMP/BLAS thread pools on a 2-core machine).
"""

from __future__ import annotations

from typing import Sequence

import torch


def stratified_split(targets: Sequence[int], val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices of the training and validation parts, each sorted; deterministic for a seed.

    Every class with at least 2 images gets at least one image in each part.
    """
    by_class: dict[int, list[int]] = {}
    for index, target in enumerate(targets):
        by_class.setdefault(int(target), []).append(index)
    too_small = sorted(str(t) for t, members in by_class.items() if len(members) < 2)
    if too_small:
        raise ValueError(f"class(es) {', '.join(too_small)} have fewer than 2 images: cannot split them "
                         "into train and val; add images or provide train/ and val/ folders")
    generator = torch.Generator().manual_seed(seed)
    train: list[int] = []
    val: list[int] = []
    for target in sorted(by_class):
        members = by_class[target]
        order = torch.randperm(len(members), generator=generator).tolist()
        n_val = min(max(1, round(len(members) * val_fraction)), len(members) - 1)
        val += [members[i] for i in order[:n_val]]
        train += [members[i] for i in order[n_val:]]
    return sorted(train), sorted(val)
