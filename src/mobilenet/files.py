"""Writing files so that a crash or Ctrl-C never leaves half of one: write beside, then rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


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
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        yield Path(temp)
        os.chmod(temp, _default_mode())
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
