"""Helpers of the detection tests: detectors with realistic activations, smooth random images."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

import mobilenet


def smooth_images(count: int, size: int | tuple[int, int], seed: int = 0) -> torch.Tensor:
    """``(count, 3, h, w)`` images on [0, 1] made of large smooth blobs (structure at every scale
    of the network, unlike pixel noise, which the deeper maps average away)."""
    height, width = (size, size) if isinstance(size, int) else size
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(count, 3, 6, 6, generator=generator)
    return nn.functional.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False).clamp(0, 1)


@torch.no_grad()
def calibrate_batch_norm(model: nn.Module, run: Callable[[torch.Tensor], object], size: int, batches: int = 2,
                         noise: bool = False) -> None:
    """BN statistics measured on smooth images, or on normal noise (``run`` feeds them through ``model``).

    A fresh network with BN mean 0 / var 1 lets activations grow until ReLU6 saturates, so every
    location scores the same and its detections are an arbitrary choice among ties. Statistics of
    one kind of input condition the network for that kind only (export checks feed noise)."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None   # a cumulative average
    model.train()
    for i in range(batches):
        x = torch.randn(8, 3, size, size, generator=torch.Generator().manual_seed(100 + i)) if noise else \
            (smooth_images(8, size, seed=100 + i) - 0.5) / 0.5
        run(x)
    model.eval()


def calibrated_detector(name: str, size: int, seed: int = 0, noise: bool = False, **options) -> nn.Module:
    """A detector of ours with measured BN statistics and distinct scores, in eval mode."""
    torch.manual_seed(seed)
    model = mobilenet.create_model(name, resolution=size, **options)
    calibrate_batch_norm(model, model.forward_raw, size, noise=noise)
    return model
