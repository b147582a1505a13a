"""Run folders: unique names, never overwritten, locked while a process writes them.

A new run refuses an existing non-empty folder unless it resumes or ``exist_ok`` is set; default
names (``<model>-<data>-<time>``) get a numbered suffix when taken, and the folder is created
with one ``mkdir`` so two runs started in the same second never share it. The writing process
holds an exclusive ``flock`` on ``<run>/.lock`` (released by the kernel when the process dies,
so a killed run never leaves a stale lock), and removes temporary files a killed writer left.
"""

from __future__ import annotations

import fcntl
import os
from datetime import datetime
from pathlib import Path
from typing import IO

LOCK_NAME = ".lock"


def default_name(model: str, data: str) -> str:
    return f"{model}-{data}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def create_run_dir(output: str | Path, name: str | None, default: str, exist_ok: bool = False) -> Path:
    """A new run folder ``output/name``, or ``output/default[-N]`` (the first free one) without a name."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    if name:
        folder = output / name
        if folder.is_dir() and any(p.name != LOCK_NAME for p in folder.iterdir()) and not exist_ok:
            raise FileExistsError(f"run folder {str(folder)!r} already exists and is not empty; resume it, "
                                  "choose another name, or allow reusing it (exist_ok)")
        folder.mkdir(exist_ok=True)
        return folder
    for attempt in range(1, 10_000):
        folder = output / (default if attempt == 1 else f"{default}-{attempt}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise FileExistsError(f"no free run folder name under {str(output)!r} for {default!r}")


class RunLock:
    """An exclusive lock on a run folder for the life of the writing process."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.handle: IO[str] | None = None

    def acquire(self) -> None:
        handle = open(self.folder / LOCK_NAME, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise FileExistsError(f"run folder {str(self.folder)!r} is being written by another process "
                                  "(it holds the folder's lock); wait for it or use another folder") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self.handle = handle
        remove_leftovers(self.folder)

    def release(self) -> None:
        if self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None


def remove_leftovers(folder: Path) -> list[Path]:
    """Delete the temporary files (``.<name>.*.tmp``) a killed writer left in ``folder``."""
    removed = []
    for path in folder.glob(".*.tmp"):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
