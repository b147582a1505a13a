"""Shared by the weights tests: peers with randomised batch-norm statistics, logit comparison."""

from __future__ import annotations

import torch
from torch import nn

SIZES = (224, 193)  # the nominal size and an odd one, where TF "SAME" padding is asymmetric
TOLERANCE = 1e-4


def randomize_batch_norm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BN statistics and affine terms, so a wrong map, epsilon or padding shows."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                shape = module.running_mean.shape
                module.running_mean.copy_(torch.randn(shape, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(shape, generator=generator) * 0.05 + 0.002)
                module.weight.copy_(torch.rand(shape, generator=generator) * 0.5 + 0.75)
                module.bias.copy_(torch.randn(shape, generator=generator) * 0.1)
    return model.eval()


def max_abs_diff(first: torch.Tensor, second: torch.Tensor) -> float:
    return float((first.detach().float() - second.detach().float()).abs().max())
