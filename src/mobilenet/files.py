"""Writing files so that a crash or Ctrl-C never leaves half of one: write beside, then rename.

Temporary files and folders carry the writing process's id (``.<name>.<pid>.<random>.tmp``,
``mobilenet-<purpose>-<pid>-<random>``); what a killed process left is removed by the next writer
of the same file (or of any temporary folder), once no live process owns it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator


def _default_mode() -> int:
    """The mode ``open()`` would give a new file: 0o666 minus the process umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path``, moved onto ``path`` only if the block succeeds.

    The block writes the temporary file by name; on success it gets the usual permissions (not
    ``mkstemp``'s owner-only 0600) and replaces ``path`` in one rename; on any error, including
    KeyboardInterrupt, it is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        yield Path(temp)
        os.chmod(temp, _default_mode())
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


_PID = re.compile(r"\.(\d+)\.[^.]+\.tmp$|-(\d+)-[^-]+$")


def _owner(path: Path) -> int | None:
    match = _PID.search(path.name)
    return int(match.group(1) or match.group(2)) if match else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(paths: Iterable[Path]) -> list[Path]:
    """Delete the temporary files or folders among ``paths`` whose writing process is gone."""
    removed = []
    for path in paths:
        pid = _owner(path)
        if pid is None or pid == os.getpid() or _alive(pid):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


@contextlib.contextmanager
def temporary_directory(purpose: str) -> Iterator[Path]:
    """A temporary folder ``mobilenet-<purpose>-<pid>-<random>`` (removed afterwards); folders that
    killed processes left behind are removed first."""
    root = Path(tempfile.gettempdir())
    remove_stale(root.glob("mobilenet-*"))
    folder = Path(tempfile.mkdtemp(prefix=f"mobilenet-{purpose}-{os.getpid()}-", dir=root))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
