"""Atomic writes: the file appears whole with the usual permissions, or not at all."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mobilenet.files import atomic_path


def test_written_file_replaces_the_old_one_with_umask_permissions(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "model.onnx"
    old_umask = os.umask(0o022)
    try:
        with atomic_path(target) as temp:
            assert temp.parent == target.parent and temp != target
            temp.write_bytes(b"new")
    finally:
        os.umask(old_umask)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # not mkstemp's owner-only 0600
    assert [p.name for p in target.parent.iterdir()] == ["model.onnx"]


@pytest.mark.parametrize("error", [ValueError("bad"), KeyboardInterrupt()])
def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, error: BaseException) -> None:
    target = tmp_path / "last.pt"
    target.write_bytes(b"old")
    with pytest.raises(type(error)):
        with atomic_path(target) as temp:
            temp.write_bytes(b"half")
            raise error
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
