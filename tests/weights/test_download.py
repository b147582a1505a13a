"""Downloads: verified, renamed into place, safe when several processes or threads fetch the same
file, local rank 0 first under torchrun, offline with an error that says where to put the file.

A local HTTP server thread (``tests.weights.helpers.FileServer``) serves a file the test made, slowly and
in chunks where the timing matters; no test touches the network."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
import time
from dataclasses import replace

import pytest
import torch
import torchvision

import mobilenet
from mobilenet.weights import get_record
from mobilenet.weights import download
from mobilenet.weights.download import cached_path, fetch
from tests.weights.helpers import FileServer, randomize_batch_norm


@pytest.fixture(scope="module")
def peer_state():
    return randomize_batch_norm(torchvision.models.mobilenet_v3_small()).state_dict()


@pytest.fixture(scope="module")
def served_bytes() -> bytes:
    """2 MB that are not a model (the download code never looks inside)."""
    return torch.randint(0, 256, (2 << 20,), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)) \
        .numpy().tobytes()


def _record_for(path, tmp_path, **changes):
    """A torchvision record pointing at a local file:// URL (no network)."""
    return replace(get_record("torchvision/mobilenet_v3_small.imagenet1k_v1"), **{"url": path.as_uri(), **changes})


def test_wrong_checksum_names_url_and_path(peer_state, tmp_path):
    source = tmp_path / "served.pth"
    torch.save(peer_state, source)
    record = _record_for(source, tmp_path, sha256="0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="checksum mismatch") as info:
        fetch(record, cache, offline=False)
    assert source.as_uri() in str(info.value) and str(cached_path(record, cache)) in str(info.value)
    target = cached_path(record, cache)
    assert not target.exists() and not target.with_name(target.name + ".part").exists()
    # A file placed by hand is verified too.
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(source.read_bytes())
    with pytest.raises(ValueError, match=f"checksum mismatch for {target}"):
        fetch(record, cache)


def test_download_verifies_and_renames_atomically(peer_state, tmp_path):
    source = tmp_path / "served.pth"
    torch.save(peer_state, source)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    record = _record_for(source, tmp_path, sha256=digest)
    path = fetch(record, tmp_path / "cache", offline=False)
    assert path == cached_path(record, tmp_path / "cache") and path.read_bytes() == source.read_bytes()
    assert not path.with_name(path.name + ".part").exists()
    prefix_record = _record_for(source, tmp_path, sha256=None, checksum=f"sha256-prefix:{digest[:8]}")
    assert fetch(prefix_record, tmp_path / "cache2", offline=False).is_file()


def test_offline_names_url_and_path(tmp_path, monkeypatch):
    monkeypatch.setenv("MOBILENET_OFFLINE", "1")
    monkeypatch.setenv("MOBILENET_CACHE", str(tmp_path / "env-cache"))
    record = get_record("keras/mobilenet_0.25_224")
    with pytest.raises(FileNotFoundError) as info:
        mobilenet.create_pretrained(record.name)
    message = str(info.value)
    assert record.url in message and str(tmp_path / "env-cache" / "keras" / record.filename) in message


def test_offline_workflow_place_then_load(peer_state, tmp_path, monkeypatch):
    """Place the file where the error says, then load without network."""
    monkeypatch.setenv("MOBILENET_OFFLINE", "1")
    record = get_record("torchvision/mobilenet_v3_small.imagenet1k_v1")
    target = cached_path(record, tmp_path)
    target.parent.mkdir(parents=True)
    torch.save(peer_state, target)
    with pytest.raises(ValueError, match="sha256 .* does not match expected 047dcff4"):
        mobilenet.create_pretrained(record.name, cache_dir=str(tmp_path))
    # Our stand-in file has its own checksum: a record that expects it loads offline.
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    monkeypatch.setitem(mobilenet.weights.RECORDS, record.name, replace(record, sha256=digest))
    model = mobilenet.create_pretrained(record.name, cache_dir=str(tmp_path))
    assert torch.equal(model.classifier.weight, peer_state["classifier.3.weight"])
    assert model.class_names[285] == "Egyptian cat" and model.preprocessing.crop_pct == 224 / 256


def _served_record(server: FileServer, data: bytes, with_hash: bool):
    """A record whose file is ``data`` on the local server, with or without its SHA-256."""
    return replace(get_record("torchvision/mobilenet_v3_small.imagenet1k_v1"), url=server.url(), checksum=None,
                   sha256=hashlib.sha256(data).hexdigest() if with_hash else None)


def _fetch_in_child(record, cache, local_rank, start_at, results) -> None:
    """One process (forked): fetch ``record`` at ``start_at`` as ``LOCAL_RANK``; report downloads and the bytes."""
    if local_rank is not None:
        os.environ["LOCAL_RANK"] = str(local_rank)
    original = download._download

    def logged(*args, **kwargs):
        results.put(("download", local_rank))
        return original(*args, **kwargs)

    download._download = logged
    time.sleep(max(0.0, start_at - time.time()))
    try:
        path = fetch(record, cache, offline=False)
        results.put(("ok", local_rank, hashlib.sha256(path.read_bytes()).hexdigest()))
    except Exception as error:  # reported to the test, which fails on it
        results.put(("error", local_rank, f"{type(error).__name__}: {error}"))


def _run_children(record, cache, ranks, starts) -> list[tuple]:
    context = multiprocessing.get_context("fork")  # the parent has imported everything: children start at once
    results = context.Queue()
    begin = time.time() + 0.5
    children = [context.Process(target=_fetch_in_child, args=(record, cache, rank, begin + start, results))
                for rank, start in zip(ranks, starts)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=120)
        assert child.exitcode == 0
    out = []
    while not results.empty():
        out.append(results.get())
    return out


@pytest.mark.parametrize("with_hash", [True, False], ids=["sha256", "no-hash"])
def test_processes_fetching_at_once_download_once_and_all_get_the_file(served_bytes, tmp_path, with_hash):
    with FileServer(served_bytes, delay=0.01) as server:  # 32 chunks: about 0.3 s of transfer
        record = _served_record(server, served_bytes, with_hash)
        results = _run_children(record, tmp_path, [None] * 4, [0.0] * 4)
    digest = hashlib.sha256(served_bytes).hexdigest()
    assert sorted(r for r in results if r[0] != "download") == [("ok", None, digest)] * 4, results
    assert [r for r in results if r[0] == "download"] == [("download", None)] and server.requests == [0]
    target = cached_path(record, tmp_path)
    assert target.read_bytes() == served_bytes
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name, target.name + ".lock"]


def test_threads_fetching_at_once_download_once(served_bytes, tmp_path):
    with FileServer(served_bytes, delay=0.005) as server:
        record = _served_record(server, served_bytes, with_hash=False)
        paths: list = []
        threads = [threading.Thread(target=lambda: paths.append(fetch(record, tmp_path, offline=False)))
                   for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(paths) == 4 and all(p.read_bytes() == served_bytes for p in paths) and server.requests == [0]


def test_under_torchrun_local_rank_zero_downloads_and_the_others_wait(served_bytes, tmp_path):
    """Rank 0 starts last (0.5 s after ranks 1 and 2): they wait for it instead of downloading."""
    with FileServer(served_bytes, delay=0.005) as server:
        record = _served_record(server, served_bytes, with_hash=False)
        results = _run_children(record, tmp_path, [1, 2, 0], [0.0, 0.0, 0.5])
    assert [r for r in results if r[0] == "download"] == [("download", 0)] and server.requests == [0]
    assert sorted(r[:2] for r in results if r[0] != "download") == [("ok", 0), ("ok", 1), ("ok", 2)], results
    assert len({r[2] for r in results if r[0] == "ok"}) == 1


def test_a_rank_that_fetches_alone_does_not_wait_forever(served_bytes, tmp_path, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(download, "RANK_ZERO_GRACE_S", 0.3)
    with FileServer(served_bytes) as server:
        record = _served_record(server, served_bytes, with_hash=False)
        started = time.monotonic()
        assert fetch(record, tmp_path, offline=False).read_bytes() == served_bytes
    assert 0.3 <= time.monotonic() - started < 30 and server.requests == [0]


def test_a_truncated_download_is_refused_then_resumed(served_bytes, tmp_path):
    """Without a hash only the size can tell: the server announces 2 MB and stops at 1 MB."""
    with FileServer(served_bytes) as server:
        record = _served_record(server, served_bytes, with_hash=False)
        target = cached_path(record, tmp_path)
        server.truncate_at = 1 << 20
        with pytest.raises(FileNotFoundError, match=rf"stopped at 1,048,576 of 2,097,152 bytes .*{target}"):
            fetch(record, tmp_path, offline=False)
        assert not target.exists()  # nothing under the real name
        server.truncate_at = None
        assert fetch(record, tmp_path, offline=False).read_bytes() == served_bytes
    assert server.requests == [0, 1 << 20]  # the second call asked only for the rest


def test_a_wrong_download_is_refused_and_leaves_no_file(served_bytes, tmp_path):
    with FileServer(served_bytes[::-1]) as server:  # right size, wrong bytes
        record = _served_record(server, served_bytes, with_hash=True)
        with pytest.raises(ValueError, match=rf"checksum mismatch: sha256 .* for the download of {server.url()}"):
            fetch(record, tmp_path, offline=False)
    target = cached_path(record, tmp_path)
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name + ".lock"]


def test_an_unreachable_server_names_url_and_path(tmp_path):
    with FileServer(b"") as server:
        url = server.url()
    record = replace(get_record("torchvision/mobilenet_v3_small.imagenet1k_v1"), url=url)
    with pytest.raises(FileNotFoundError, match=rf"cannot download weights .*{url} and place it at "
                                                rf"{cached_path(record, tmp_path)}"):
        fetch(record, tmp_path, offline=False)
