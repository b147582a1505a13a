"""Fixtures of the detection tests: one intra-op thread, as the engine tests (tiny tensors)."""

from __future__ import annotations

from tests.engine.conftest import one_thread  # noqa: F401
