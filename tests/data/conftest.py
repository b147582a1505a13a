"""Image folders made of real images: the embedded handwritten digits saved as files."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.data.helpers import write_digit_folder
from tests.engine.conftest import one_thread  # noqa: F401  (tiny tensors: one thread, as the engine tests)


@pytest.fixture
def digit_folder(tmp_path) -> Path:
    return write_digit_folder(tmp_path / "digits")
