"""Helpers of the export tests: models with O(1) outputs, small image folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

import mobilenet
from mobilenet.layers.layer_scale import LayerScale


def perturbed(name: str, seed: int = 0, **options) -> mobilenet.MobileNet:
    """A model with non-trivial BN statistics and a classifier whose logits are O(1).

    Fresh models have BN mean 0 / var 1 and tiny logits, which would let a wrong fold or a wrong
    export pass a 1e-4 check.
    """
    torch.manual_seed(seed)
    model = mobilenet.create_model(name, **options)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.3, 0.3)
        elif isinstance(module, LayerScale):  # V4 Hybrid starts at 1e-5: its branches would not count
            module.gamma.data.uniform_(0.05, 0.2)
    if isinstance(model.classifier, nn.Linear):
        nn.init.normal_(model.classifier.weight, 0, 0.3)
    return model.eval()


def write_image_folder(root: Path, classes: tuple[str, ...] = ("ants", "bees"), per_class: int = 4,
                       size: tuple[int, int] = (80, 64)) -> Path:
    """A small class-per-folder tree of smooth random RGB images."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            base = rng.uniform(0, 255, (4, 4, 3))
            pixels = np.kron(base, np.ones((size[1] // 4, size[0] // 4, 1))) * (0.6 + 0.4 * c)
            Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(root / name / f"{i}.jpg")
    return root
