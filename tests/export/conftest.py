"""Fixtures of the export tests: a small image folder, the team's real photos."""

from __future__ import annotations

from pathlib import Path

import pytest
from export_util import write_image_folder

REAL_IMAGES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "images"


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    return write_image_folder(tmp_path / "images")


@pytest.fixture(scope="session")
def real_images() -> Path:
    if not REAL_IMAGES.is_dir():
        pytest.skip(f"real test images not found at {REAL_IMAGES} (a fresh clone has no ../shared)")
    return REAL_IMAGES
