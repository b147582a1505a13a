"""Download and cache weight files: one process downloads, the file is checked, then renamed into place.

The cache folder is ``cache_dir`` if given, else ``$MOBILENET_CACHE``, else
``~/.cache/mobilenet``; a record's file lives at ``<cache>/<source>/<filename>``. Several
processes may ask for the same file at once (torchrun ranks, parallel jobs on a shared cache):

- a lock file ``<filename>.lock`` (``filelock``) lets one process download at a time; the others
  wait for it, then verify and use its file;
- the bytes go to ``<filename>.part``; an interrupted transfer keeps it and the next call resumes
  it with an HTTP range request;
- the finished ``.part`` must have the size the server announced and, where the record knows one,
  the right hash; only then is it renamed to the real name (one ``os.replace``), so the cache never
  holds a truncated or wrong file under that name;
- under torchrun (``LOCAL_RANK`` set) local rank 0 downloads: the other ranks of the machine wait
  for its file, then for the lock (or take over when rank 0 never downloads). Only the file system
  is used, never a collective call, so a rank that fetches weights on its own cannot hang, with or
  without a process group.

Records whose URL is on huggingface.co go through ``huggingface_hub`` when it is installed
(``mobilenet.weights.hub``: its cache, locking and progress, and the Hub's SHA-256).
``MOBILENET_OFFLINE=1`` (or ``offline=True``; ``HF_HUB_OFFLINE=1`` for huggingface.co) never touches
the network. Offline, on a network failure or on a bad download, the error names the URL and where
to place the file.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from filelock import FileLock
from tqdm import tqdm

from mobilenet.extras import available
from mobilenet.weights.records import WeightsRecord

ENV_CACHE = "MOBILENET_CACHE"
ENV_OFFLINE = "MOBILENET_OFFLINE"
HF_OFFLINE = "HF_HUB_OFFLINE"
CHUNK = 1 << 20
RANK_ZERO_GRACE_S = 10.0  # how long other local ranks leave local rank 0 to start a download
POLL_S = 0.1


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


def place_hint(record: WeightsRecord, target: Path) -> str:
    return f"download {record.url} and place it at {target}"


def offline_switches(url: str) -> tuple[str, ...]:
    """The environment variables that turn downloads of ``url`` off."""
    return (ENV_OFFLINE, HF_OFFLINE) if url.startswith("https://huggingface.co/") else (ENV_OFFLINE,)


def is_offline(url: str, offline: bool | None = None) -> bool:
    """``offline`` if given, else whether one of ``offline_switches(url)`` is set (to anything but 0/false)."""
    if offline is not None:
        return offline
    return any(os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")
               for name in offline_switches(url))


def offline_error(record: WeightsRecord, target: Path) -> FileNotFoundError:
    return FileNotFoundError(f"weights {record.name!r} are not cached and downloads are off "
                             f"({' or '.join(offline_switches(record.url))}); {place_hint(record, target)}")


def _checked(target: Path, record: WeightsRecord) -> Path:
    problem = verify(target, record)
    if problem:
        raise ValueError(f"checksum mismatch for {target} ({problem}); delete it, or {place_hint(record, target)}")
    return target


def _total_size(response: http.client.HTTPResponse, resumed: bool) -> int | None:
    """The whole file's size as the server states it: Content-Range's total, else Content-Length."""
    if resumed:
        match = re.fullmatch(r"bytes \d+-\d+/(\d+)", response.headers.get("Content-Range", "").strip())
        return int(match.group(1)) if match else None
    length = response.headers.get("Content-Length", "")
    return int(length) if length.strip().isdigit() else None


def _download(url: str, part: Path, quiet: bool) -> int | None:
    """Append the rest of ``url`` to ``part`` (resuming a prefix); the file size the server announced."""
    done = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={done}-"} if done else {})
    with urllib.request.urlopen(request, timeout=60) as response:
        resumed = bool(done) and response.status == 206
        total = _total_size(response, resumed)
        with open(part, "ab" if resumed else "wb") as handle, \
                tqdm(total=total, initial=done if resumed else 0, unit="B", unit_scale=True, leave=False,
                     desc=part.name.removesuffix(".part"), disable=quiet or not sys.stderr.isatty()) as bar:
            for chunk in iter(lambda: response.read(CHUNK), b""):  # a dropped connection ends early, quietly
                handle.write(chunk)
                bar.update(len(chunk))
            handle.flush()
            os.fsync(handle.fileno())
    return total


def _download_verified(record: WeightsRecord, target: Path, quiet: bool) -> None:
    """Download ``record`` to ``target.part``, check size and hash, rename it to ``target``."""
    part = target.with_name(target.name + ".part")
    for attempt in range(2):
        try:
            total = _download(record.url, part, quiet)
            break
        except urllib.error.HTTPError as error:
            if error.code == 416 and attempt == 0:  # the range starts past the end: the .part is stale
                part.unlink(missing_ok=True)
                continue
            raise FileNotFoundError(f"cannot download weights {record.name!r} (HTTP {error.code} {error.reason}); "
                                    f"{place_hint(record, target)}") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            reason = getattr(error, "reason", error)
            kept = f" (the part received is kept in {part} and resumed next time)" if part.exists() else ""
            raise FileNotFoundError(f"cannot download weights {record.name!r} ({reason}){kept}; "
                                    f"{place_hint(record, target)}") from None
    size = part.stat().st_size
    if total is not None and size < total:
        raise FileNotFoundError(f"the download of {record.url} stopped at {size:,} of {total:,} bytes (kept in "
                                f"{part} and resumed next time); retry, or {place_hint(record, target)}")
    if total is not None and size != total:
        problem = f"size mismatch: {size:,} bytes where the server announced {total:,}"
    else:
        mismatch = verify(part, record)
        problem = mismatch and f"checksum mismatch: {mismatch}"
    if problem:
        part.unlink(missing_ok=True)
        raise ValueError(f"{problem} for the download of {record.url}; the file was removed; retry, or "
                         f"{place_hint(record, target)}")
    os.replace(part, target)


def _local_rank() -> int:
    try:
        return int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        return 0


def _wait_for_local_rank_zero(target: Path) -> None:
    """Under torchrun, a rank other than local rank 0 first waits for rank 0 to download ``target``.

    After ``RANK_ZERO_GRACE_S`` without the file (rank 0 is still downloading, does not fetch this
    file, or failed) it goes on to the lock: it waits there for a download in progress, or
    downloads the file itself.
    """
    deadline = time.monotonic() + RANK_ZERO_GRACE_S
    while not target.is_file() and time.monotonic() < deadline:
        time.sleep(POLL_S)


def fetch(record: WeightsRecord, directory: str | os.PathLike[str] | None = None,
          offline: bool | None = None) -> Path:
    """The verified local file of ``record``, downloading it unless it is cached (or offline)."""
    target = cached_path(record, directory)
    if target.is_file():
        return _checked(target, record)
    offline = is_offline(record.url, offline)
    from mobilenet.weights import hub  # late: hub imports this module

    if hub.hub_location(record.url) and available("huggingface_hub"):
        return hub.fetch_record(record, target, offline, directory)
    if offline:
        raise offline_error(record, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(target.with_name(target.name + ".lock"))
    rank = _local_rank()
    if rank != 0:
        _wait_for_local_rank_zero(target)
    with lock:
        if target.is_file():  # another process downloaded it while this one waited
            return _checked(target, record)
        _download_verified(record, target, quiet=rank != 0)
    return target
