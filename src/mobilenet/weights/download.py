"""Download and cache weight files: checksum-verified, resumable, written atomically.

The cache folder is ``cache_dir`` if given, else ``$MOBILENET_CACHE``, else
``~/.cache/mobilenet``; a record's file lives at ``<cache>/<source>/<filename>``. A partial
download is kept as ``<filename>.part`` and resumed with an HTTP range request; the finished file
is verified, then renamed into place, so the cache never holds a half-written file under the real
name. ``MOBILENET_OFFLINE=1`` (or ``offline=True``) never touches the network. Offline, on a
network failure or on a checksum mismatch the error names the URL and where to place the file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from mobilenet.weights.records import WeightsRecord

ENV_CACHE = "MOBILENET_CACHE"
ENV_OFFLINE = "MOBILENET_OFFLINE"
CHUNK = 1 << 20


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The cache folder: ``override``, else ``$MOBILENET_CACHE``, else ``~/.cache/mobilenet``."""
    if override is not None:
        return Path(override)
    env = os.environ.get(ENV_CACHE)
    return Path(env) if env else Path.home() / ".cache" / "mobilenet"


def cached_path(record: WeightsRecord, directory: str | os.PathLike[str] | None = None) -> Path:
    """Where ``record``'s file is (or will be) cached."""
    return cache_dir(directory) / record.source / record.filename


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, record: WeightsRecord) -> str | None:
    """None when ``path`` matches the record's checksum (or it has none); else what went wrong."""
    if record.sha256:
        actual = file_digest(path)
        return None if actual == record.sha256 else f"sha256 {actual} != expected {record.sha256}"
    if record.checksum:
        kind, expected = record.checksum.split(":", 1)
        actual = file_digest(path, "md5" if kind == "md5" else "sha256")
        ok = actual.startswith(expected) if kind == "sha256-prefix" else actual == expected
        return None if ok else f"{kind.replace('-prefix', '')} {actual} does not match expected {expected}"
    return None


def _place_hint(record: WeightsRecord, target: Path) -> str:
    return f"download {record.url} and place it at {target}"


def _download(url: str, part: Path) -> None:
    """Append the rest of ``url`` to ``part`` (resuming when it already holds a prefix)."""
    done = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={done}-"} if done else {})
    with urllib.request.urlopen(request, timeout=60) as response:
        resumed = done and getattr(response, "status", 200) == 206
        with open(part, "ab" if resumed else "wb") as handle:
            shutil.copyfileobj(response, handle, CHUNK)
            handle.flush()
            os.fsync(handle.fileno())


def fetch(record: WeightsRecord, directory: str | os.PathLike[str] | None = None,
          offline: bool | None = None) -> Path:
    """The verified local file of ``record``, downloading it unless it is cached (or offline)."""
    target = cached_path(record, directory)
    if target.is_file():
        problem = verify(target, record)
        if problem:
            raise ValueError(f"checksum mismatch for {target} ({problem}); delete it, or "
                             f"{_place_hint(record, target)}")
        return target
    offline = os.environ.get(ENV_OFFLINE, "") not in ("", "0") if offline is None else offline
    if offline:
        raise FileNotFoundError(f"weights {record.name!r} are not cached and downloads are off "
                                f"({ENV_OFFLINE}); {_place_hint(record, target)}")
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    try:
        _download(record.url, part)
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        reason = getattr(error, "reason", error)
        raise FileNotFoundError(f"cannot download weights {record.name!r} ({reason}); "
                                f"{_place_hint(record, target)}") from None
    problem = verify(part, record)
    if problem:
        part.unlink(missing_ok=True)
        raise ValueError(f"checksum mismatch for the download of {record.url} ({problem}); the file was "
                         f"removed; retry, or {_place_hint(record, target)}")
    os.replace(part, target)
    return target
