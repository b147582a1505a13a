"""Shared test fixtures: the team's shared data, real photos, generated images and inputs.

Shared helpers live in one module name per folder, imported fully qualified
(``tests.engine.helpers``, ``tests.export.helpers``, ``tests.models.helpers``, ``tests.weights.helpers``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import os

import pytest
import torch

from tests.export.helpers import write_image_folder

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two pytest workers on the two cores of CI: one intra-op thread each, so that they do not
    # oversubscribe the cores (tests that time or export with N threads set them explicitly).
    torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REAL_IMAGES = SHARED / "data" / "images"


@pytest.fixture(scope="session")
def one_thread():
    """One intra-op thread for tests of tiny tensors, where thread hand-offs cost more than they save; for the
    rest of the session, so that module fixtures (e.g. a reference training run) and tests agree on it."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` (real photos, checkpoints); tests that need it skip where it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (a fresh clone has no ../shared); these tests need the team's data")
    return SHARED


@pytest.fixture(scope="session")
def real_images() -> Path:
    """The team's real photos (``../shared/data/images``)."""
    if not REAL_IMAGES.is_dir():
        pytest.skip(f"real test images not found at {REAL_IMAGES} (a fresh clone has no ../shared)")
    return REAL_IMAGES


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """A small class-per-folder tree of generated images."""
    return write_image_folder(tmp_path / "images")


@pytest.fixture
def inputs() -> Callable[[int], torch.Tensor]:
    """Random NCHW float32 inputs of a given size (fixed seed)."""
    def make(size: int) -> torch.Tensor:
        return torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(size))
    return make
