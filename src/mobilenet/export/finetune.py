"""A short supervised fine-tune on a labelled image folder: what quantization-aware training runs
(onnxruntime's ``QuantSim`` and the PT2E QAT of LiteRT and ExecuTorch) on any ``nn.Module``."""

from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from mobilenet.data.images import open_rgb
from mobilenet.data.preprocessing import Preprocessing
from mobilenet.export.accuracy import _targets_in_model_order
from mobilenet.export.images import labelled_images
from mobilenet.tasks.classification.transforms import train_transform


def _training_images(folder: Path, resize: int) -> tuple[list, list[int], tuple[str, ...]]:
    """Decoded once, short side shrunk to ``resize``: epochs then cost augmentation only."""
    files = labelled_images(folder)
    images = []
    for path, _ in files.samples:
        image = open_rgb(path)
        scale = resize / min(image.size)
        if scale < 1:
            image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
        images.append(image)
    return images, files.targets, files.classes


def fine_tune(model: nn.Module, folder: str | Path, pre: Preprocessing, class_names: list[str], epochs: int,
              lr: float = 0.005, batch_size: int = 32, weight_decay: float = 4e-5, seed: int = 0,
              log: Callable[[str], None] = print) -> None:
    """A short SGD fine-tune (cosine, label smoothing 0.1) on ``folder/<class>/<image>``."""
    folder = Path(folder)
    folder = folder / "train" if (folder / "train").is_dir() else folder
    resize = int(round(pre.resize * 1.15))
    images, targets, classes = _training_images(folder, resize)
    mapping = _targets_in_model_order(classes, class_names)
    transform = train_transform(pre, crop_scale=0.25)
    decay = [p for n, p in model.named_parameters() if p.dim() > 1]
    rest = [p for n, p in model.named_parameters() if p.dim() <= 1]
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0}],
                                lr=lr, momentum=0.9, nesterov=True)
    steps = epochs * math.ceil(len(images) / batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    rng = random.Random(seed)
    torch.manual_seed(seed)
    model.train()
    for epoch in range(epochs):
        order = list(range(len(images)))
        rng.shuffle(order)
        started, total, correct = time.perf_counter(), 0.0, 0
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            x = torch.stack([transform(images[i]) for i in index])
            y = torch.tensor([mapping[targets[i]] for i in index])
            logits = model(x)
            loss = criterion(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(index)
            correct += int((logits.argmax(1) == y).sum())
        log(f"qat epoch {epoch + 1}/{epochs}: loss {total / len(images):.4f} train acc {correct / len(images):.3f} "
            f"({time.perf_counter() - started:.1f}s)")
    model.eval()
