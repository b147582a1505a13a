"""Bad checkpoints fail with errors that name the problem, and leave the model untouched."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
import torch
import torchvision

import mobilenet
from mobilenet.weights import get_record, load_weights
from mobilenet.weights.download import cached_path, fetch
from weights_helpers import randomize_batch_norm


@pytest.fixture(scope="module")
def peer_state():
    return randomize_batch_norm(torchvision.models.mobilenet_v3_small()).state_dict()


def _load_expecting(state, tmp_path, match):
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    model = mobilenet.create_model("mobilenet_v3_small")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=match):
        load_weights(model, str(path))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "a failed load changed the model"


def test_missing_key(peer_state, tmp_path):
    state = dict(peer_state)
    del state["features.4.block.2.fc1.bias"]
    _load_expecting(state, tmp_path, r"missing in the checkpoint: features\.4\.block\.2\.fc1\.bias")


def test_extra_key(peer_state, tmp_path):
    state = {**peer_state, "features.99.weight": torch.zeros(3)}
    _load_expecting(state, tmp_path, r"not used: features\.99\.weight")


def test_wrong_shape(peer_state, tmp_path):
    state = {**peer_state, "classifier.3.weight": torch.zeros(10, 1024)}
    _load_expecting(state, tmp_path, r"'classifier\.3\.weight' \(10, 1024\) does not fit 'classifier\.weight' "
                                     r"\(1000, 1024\)")


def test_unknown_file_kind(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="encoder.weight"):
        load_weights(mobilenet.create_model("mobilenet_v2"), str(path))


def test_truncated_file(peer_state, tmp_path):
    path = tmp_path / "cut.pth"
    torch.save(peer_state, path)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(ValueError, match="is the download complete"):
        load_weights(mobilenet.create_model("mobilenet_v3_small"), str(path))


def test_missing_file_and_unknown_record():
    model = mobilenet.create_model("mobilenet_v2")
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        load_weights(model, "nowhere.pth")
    with pytest.raises(ValueError, match="unknown weights 'torchvision/mobilenet_v9'.*mobilenet weights list"):
        load_weights(model, "torchvision/mobilenet_v9")


def test_record_needs_its_options():
    model = mobilenet.create_model("mobilenet_v1_025")
    with pytest.raises(ValueError, match=r"padding='keras_v1'.*create_model\(weights="):
        load_weights(model, "keras/mobilenet_0.25_224")


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


class _Response:
    """A stand-in HTTP response: the bytes from the requested offset, status 206 when ranged."""

    def __init__(self, data: bytes, request) -> None:
        spec = request.get_header("Range")
        self.start = int(spec.split("=")[1].rstrip("-")) if spec else 0
        self.status = 206 if spec else 200
        self._data = data[self.start:]

    def read(self, size: int = -1) -> bytes:
        chunk, self._data = (self._data, b"") if size < 0 else (self._data[:size], self._data[size:])
        return chunk

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


def test_download_resumes_a_partial_file(peer_state, tmp_path, monkeypatch):
    served = tmp_path / "served.pth"
    torch.save(peer_state, served)
    data = served.read_bytes()
    record = _record_for(served, tmp_path, url="https://example.invalid/x.pth",
                         sha256=hashlib.sha256(data).hexdigest())
    target = cached_path(record, tmp_path / "cache")
    target.parent.mkdir(parents=True)
    target.with_name(target.name + ".part").write_bytes(data[:1000])  # an interrupted download
    starts = []

    def urlopen(request, timeout):
        response = _Response(data, request)
        starts.append(response.start)
        return response

    monkeypatch.setattr("mobilenet.weights.download.urllib.request.urlopen", urlopen)
    assert fetch(record, tmp_path / "cache", offline=False).read_bytes() == data
    assert starts == [1000]
