"""Shared by the weights tests: peers with non-trivial batch-norm statistics, logit comparison."""

from __future__ import annotations

import torch
from torch import nn

SIZES = (224, 193)  # the nominal size and an odd one, where TF "SAME" padding is asymmetric
TOLERANCE = 1e-4


def randomize_batch_norm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random BN affine terms and running statistics measured on random images.

    Measured statistics keep activations near unit scale through the whole depth (so float32
    logits are comparable at 1e-4), yet differ per channel from the 0/1 defaults, so a wrong
    key map, epsilon or padding changes the logits.
    """
    generator = torch.Generator().manual_seed(seed)
    batch_norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for module in batch_norms:
            module.weight.copy_(torch.rand(module.weight.shape, generator=generator) * 0.5 + 0.75)
            module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
            module.reset_running_stats()
            module.momentum = None  # cumulative average: the statistics of exactly this batch
        model.train()
        model(torch.randn(4, 3, 160, 160, generator=generator))
    return model.eval()


def max_abs_diff(first: torch.Tensor, second: torch.Tensor) -> float:
    return float((first.detach().float() - second.detach().float()).abs().max())


def assert_same_logits(ours: torch.Tensor, expected: torch.Tensor, label: str) -> float:
    """Peer logits must spread (or the test could not fail) and ours must match them within TOLERANCE."""
    ours, expected = torch.as_tensor(ours), torch.as_tensor(expected)
    assert float(expected.float().std()) > 100 * TOLERANCE, f"{label}: peer logits too flat to compare"
    diff = max_abs_diff(ours, expected)
    print(f"{label}: max abs diff {diff:.2e}")  # pytest -s shows it
    assert diff <= TOLERANCE, label
    return diff
