"""From a dataset to batches: seeded per-sample augmentation, a resumable (distributed) sampler,
and a collate that drops unreadable images and reports them.

Each sample's augmentation is drawn from its own seed ``(run seed, epoch, index)``, not from a
worker's random stream. So batches do not depend on the number of workers or processes, a run
resumed mid-epoch sees exactly the batches the uninterrupted run saw, and a 2-process run sees
the same global batches as a 1-process run.
"""

from __future__ import annotations

import math
import os
import signal
from typing import Any, Callable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler


def sample_seed(seed: int, epoch: int, index: int) -> int:
    return (seed * 1_000_003 + epoch * 7_919 + index * 104_729 + 12_345) % (2**63 - 1)


class AugmentedDataset(Dataset):
    """Wraps a dataset whose ``load(i)`` gives ``(image, target)`` (or None for an unreadable sample);
    items are fetched with an (index, seed) key and ``transform(image, target)`` is applied to both
    (torchvision ``transforms.v2`` moves ``tv_tensors.BoundingBoxes``/``Mask`` targets with the image)."""

    def __init__(self, base: Any, transform: Callable[[Any, Any], tuple[torch.Tensor, Any]]) -> None:
        self.base, self.transform = base, transform

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, key: tuple[int, int] | int) -> tuple[torch.Tensor | None, Any, int]:
        index, seed = key if isinstance(key, tuple) else (key, index_seed(key))
        item = self.base.load(index)
        if item is None:
            return None, None, index
        image, target = item
        # torchvision draws from the default CPU generator: seed it for this sample, then put the
        # caller's stream back (without workers this runs in the training process).
        generator = torch.default_generator
        state = generator.get_state()
        generator.manual_seed(seed)
        try:
            image, target = self.transform(image, target)
            return image, target, index
        finally:
            generator.set_state(state)


def index_seed(index: int) -> int:
    return sample_seed(0, 0, index)


class EpochSampler(Sampler):
    """Seeded shuffle per epoch, sharded over processes like ``DistributedSampler`` (rank r takes
    every world-th index, the list padded to a multiple of the world size), and resumable: after
    ``set_position(epoch, consumed)`` it skips the samples this rank has already trained on.

    Yields ``(index, augmentation seed)`` keys for ``AugmentedDataset``.
    """

    def __init__(self, size: int, shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1,
                 pad: bool = True) -> None:
        self.size, self.shuffle, self.seed = size, shuffle, seed
        self.rank, self.world_size, self.pad = rank, world_size, pad
        self.epoch, self.start = 0, 0

    def set_position(self, epoch: int, consumed: int = 0) -> None:
        self.epoch, self.start = epoch, consumed

    def indices(self) -> list[int]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.size, generator=generator).tolist()
        else:
            order = list(range(self.size))
        if self.pad:
            total = math.ceil(self.size / self.world_size) * self.world_size
            order += order[: total - len(order)]
        return order[self.rank::self.world_size]

    def __len__(self) -> int:
        return len(self.indices()) - self.start

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for index in self.indices()[self.start:]:
            yield index, sample_seed(self.seed, self.epoch, index)


def collate(batch: list[tuple[Any, Any, int]], stack_targets: bool = True) -> dict[str, Any]:
    """Stack the readable samples' images (and targets, when they are tensors or numbers; otherwise
    they stay a list, as detection's per-image boxes do); ``skipped`` lists unreadable indices."""
    good = [item for item in batch if item[0] is not None]
    skipped = [index for image, _, index in batch if image is None]
    if not good:
        return {"images": None, "targets": None, "indices": torch.empty(0, dtype=torch.long), "skipped": skipped}
    targets: Any = [g[1] for g in good]
    if stack_targets:
        targets = torch.stack(targets) if isinstance(targets[0], torch.Tensor) else torch.tensor(targets)
    return {"images": torch.stack([g[0] for g in good]), "targets": targets,
            "indices": torch.tensor([g[2] for g in good]), "skipped": skipped}


def default_workers(in_memory: bool, world_size: int = 1) -> int:
    """In-memory tensors decode for free: workers would only add copies. Files: one worker per
    spare core, at most 8."""
    if in_memory:
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(8, cores // max(world_size, 1)))


def ignore_stop_signals(_worker_id: int) -> None:
    """DataLoader workers leave Ctrl-C and SIGTERM to the training process, which stops between
    steps and shuts them down (a worker killed by the terminal's Ctrl-C would abort the run)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def make_loader(dataset: AugmentedDataset, sampler: EpochSampler, batch_size: int, workers: int,
                drop_last: bool, pin_memory: bool = False,
                collate_fn: Callable[[list[Any]], dict[str, Any]] = collate) -> DataLoader:
    # Its own generator: creating an iterator draws a worker base seed, which must not shift the
    # global stream (dropout) or a resumed run would diverge from the uninterrupted one.
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers, collate_fn=collate_fn,
                      drop_last=drop_last, pin_memory=pin_memory, persistent_workers=False,
                      prefetch_factor=4 if workers else None, generator=torch.Generator().manual_seed(0),
                      worker_init_fn=ignore_stop_signals if workers else None)
