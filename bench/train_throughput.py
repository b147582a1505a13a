"""Training speed: our trainer vs a plain PyTorch loop training torchvision's mobilenet_v3_small.

Same data (the embedded digits, upscaled), same augmentation (random resized crop + flip), same
batch, optimiser (SGD Nesterov momentum, weight decay), label smoothing, resolution and threads,
one process, no DataLoader workers. Ours runs ``mobilenet.engine.trainer.Trainer`` as ``mobilenet
train`` does (per-sample seeded augmentation, progress bookkeeping, channels-last); the peer is the
textbook loop (``--peer-channels-last`` gives it our memory layout too). Rounds alternate (ours, peer, ours, ...) so that load from other processes hits both
alike; each round times ``--steps`` optimiser steps after ``--warmup`` steps; we report the median
images/s of each side and their ratio (ours / peer; >= 1 means ours is at least as fast).

Run: ``.venv/bin/python bench/train_throughput.py [--rounds 5] [--resolution 64] [--batch-size 64] [--threads N]``
(on a machine shared with other jobs, ``--threads 1`` avoids OpenMP spin-wait contention that makes
2-thread timings swing by 10x).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader, Dataset

import mobilenet
from mobilenet.data.digits import digits_splits
from mobilenet.data.preprocessing import Preprocessing
from mobilenet.tasks.classification.transforms import train_transform
from mobilenet.engine.config import resolve_config
from mobilenet.engine.trainer import Interrupted, Trainer


def settings(args: argparse.Namespace, output: str) -> dict:
    return dict(data="digits", model="mobilenet_v3_small", resolution=args.resolution, batch_size=args.batch_size,
                opt="sgd", lr=0.05, momentum=0.9, weight_decay=4e-5, label_smoothing=0.1, warmup_epochs=0,
                crop_scale=0.5, hflip=0.5, workers=0, progress=False, output=output, seed=0)


def time_ours(args: argparse.Namespace, output: str) -> float:
    stamps: list[float] = []

    def on_step(trainer: Trainer) -> None:
        stamps.append(time.perf_counter())
        if len(stamps) == args.warmup + args.steps + 1:
            raise Interrupted

    trainer = Trainer(resolve_config(None, **settings(args, output), name=f"ours-{time.time_ns()}"), on_step=on_step)
    try:
        trainer.train_epoch()
    except Interrupted:
        pass
    return args.steps * args.batch_size / (stamps[-1] - stamps[args.warmup])


class Plain(Dataset):
    def __init__(self, base, transform) -> None:
        self.base, self.transform = base, transform

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int):
        return self.transform(self.base.load(index)), self.base.targets[index]


def time_peer(args: argparse.Namespace) -> float:
    torch.manual_seed(0)
    train_set, _, _ = digits_splits(args.resolution, 0.2, 0)
    transform = train_transform(Preprocessing(args.resolution, 0.875), crop_scale=0.5, hflip=0.5)
    loader = DataLoader(Plain(train_set, transform), batch_size=args.batch_size, shuffle=True, drop_last=True)
    model = torchvision.models.mobilenet_v3_small(num_classes=10)
    if args.peer_channels_last:
        model = model.to(memory_format=torch.channels_last)
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": 4e-5}, {"params": no_decay, "weight_decay": 0}],
                                lr=0.05, momentum=0.9, nesterov=True)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    model.train()
    stamps: list[float] = []
    for images, targets in loader:
        if args.peer_channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        loss = criterion(model(images), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        stamps.append(time.perf_counter())
        if len(stamps) == args.warmup + args.steps + 1:
            break
    return args.steps * args.batch_size / (stamps[-1] - stamps[args.warmup])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=12, help="timed optimiser steps per round")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads for both sides (0: torch's default)")
    parser.add_argument("--peer-channels-last", action="store_true",
                        help="give the plain loop our channels-last layout too (isolates the loop's own overhead)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if (args.warmup + args.steps + 1) * args.batch_size > 1437:
        raise SystemExit("warmup + steps + 1 batches must fit in one epoch of the 1,437 training digits")
    ours_model = mobilenet.create_model("mobilenet_v3_small", num_classes=10, resolution=args.resolution)
    peer_model = torchvision.models.mobilenet_v3_small(num_classes=10)
    print(f"mobilenet_v3_small, {args.resolution}x{args.resolution}, batch {args.batch_size}, "
          f"{torch.get_num_threads()} threads; params ours {sum(p.numel() for p in ours_model.parameters()):,} "
          f"torchvision {sum(p.numel() for p in peer_model.parameters()):,}")
    ours, peer = [], []
    with tempfile.TemporaryDirectory() as output:
        for round_ in range(args.rounds):
            ours.append(time_ours(args, output))
            peer.append(time_peer(args))
            print(f"round {round_ + 1}: ours {ours[-1]:.1f} img/s  torchvision loop {peer[-1]:.1f} img/s", flush=True)
    ratio = statistics.median(ours) / statistics.median(peer)
    print(f"median: ours {statistics.median(ours):.1f} img/s, torchvision loop {statistics.median(peer):.1f} img/s, "
          f"ratio ours/peer {ratio:.2f} ({'at least as fast' if ratio >= 1 else 'SLOWER'})")


if __name__ == "__main__":
    main()
