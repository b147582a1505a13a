"""Fixtures of the detection tests: one intra-op thread, as the engine tests (tiny tensors)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread) -> None:
    """Tiny tensors: one intra-op thread (``one_thread`` of tests/conftest.py)."""
