"""One intra-op thread for the engine tests: their tensors are tiny (width 0.35 at 32x32), where
thread hand-offs cost more than they save, and the CI machine is shared with other test jobs."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
