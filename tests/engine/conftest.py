"""One intra-op thread for the engine tests: their tensors are tiny (width 0.35 at 32x32), where
thread hand-offs cost more than they save, and the CI machine is shared with other test jobs."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread) -> None:
    """Tiny tensors: one intra-op thread (``one_thread`` of tests/conftest.py)."""
