"""Fixtures of the segmentation tests: one thread (tiny tensors), small models."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tasks.segmentation.helpers import write_pairs


@pytest.fixture(autouse=True)
def _one_thread(one_thread) -> None:
    """Tiny tensors: one intra-op thread (``one_thread`` of tests/conftest.py)."""


@pytest.fixture
def pairs(tmp_path: Path) -> Path:
    """``train/`` (12 pairs) and ``val/`` (6 pairs) of synthetic photos with masks."""
    write_pairs(tmp_path / "seg" / "train", 12, seed=1)
    write_pairs(tmp_path / "seg" / "val", 6, seed=2)
    return tmp_path / "seg"
