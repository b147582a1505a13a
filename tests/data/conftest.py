"""Image folders made of real images: the embedded handwritten digits saved as files."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.data.helpers import write_digit_folder


@pytest.fixture
def digit_folder(tmp_path) -> Path:
    return write_digit_folder(tmp_path / "digits")


@pytest.fixture(autouse=True)
def _one_thread(one_thread) -> None:
    """Tiny tensors: one intra-op thread (``one_thread`` of tests/conftest.py)."""
