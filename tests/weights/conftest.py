"""Fixtures of the weights tests."""

from __future__ import annotations

from typing import Callable

import pytest
import torch


@pytest.fixture
def inputs() -> Callable[[int], torch.Tensor]:
    """Random NCHW float32 inputs of a given size (fixed seed)."""
    def make(size: int) -> torch.Tensor:
        return torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(size))
    return make
