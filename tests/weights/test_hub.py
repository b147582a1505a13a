"""The Hugging Face Hub without network: timm's records through ``hf_hub_download`` (monkeypatched with
a stand-in that lays files out like the Hub's cache), and our models to and from the Hub
(``push_to_hub`` with a monkeypatched upload, ``from_pretrained`` of a folder or a repository)."""

from __future__ import annotations

import hashlib
import shutil
import sys

import pytest
import torch

import mobilenet
from mobilenet.data.preprocessing import Preprocessing
from mobilenet.weights import RECORDS, from_pretrained, get_record, push_to_hub, save_pretrained
from mobilenet.weights.download import cached_path, fetch
from mobilenet.weights.hub import hub_location
from tests.weights.helpers import assert_same_logits, fake_hub, randomize_batch_norm

pytest.importorskip("huggingface_hub")

TAG = "mobilenetv4_conv_small.e2400_r224_in1k"
REPO = f"timm/{TAG}"


@pytest.fixture
def hub_record():
    return get_record(REPO)


def test_every_huggingface_record_parses_and_others_do_not():
    on_hub = [r for r in RECORDS.values() if r.url.startswith("https://huggingface.co/")]
    assert len(on_hub) >= 6
    for record in on_hub:
        repo_id, revision, filename = hub_location(record.url)
        assert repo_id == record.name and revision == "main" and filename == "model.safetensors"
    assert hub_location(get_record("keras/mobilenet_0.25_224").url) is None


def test_a_hub_record_downloads_through_huggingface_hub(hub_record, tmp_path, monkeypatch):
    data = b"timm weights" * 1000
    calls = fake_hub(monkeypatch, {(REPO, "model.safetensors"): data}, tmp_path / "hf")
    path = fetch(hub_record, tmp_path / "cache", offline=False)
    assert path.read_bytes() == data and path.resolve().name == hashlib.sha256(data).hexdigest()
    assert calls[0] == dict(repo_id=REPO, filename="model.safetensors", revision="main",
                            cache_dir=tmp_path / "cache" / "huggingface", local_files_only=False,
                            library_name="mobilenet", library_version=mobilenet.__version__)
    assert not cached_path(hub_record, tmp_path / "cache").exists()  # the Hub's cache, not ours
    monkeypatch.delenv("MOBILENET_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert fetch(hub_record, offline=False).read_bytes() == data
    assert calls[1]["cache_dir"] is None  # no cache folder given: the Hub's own cache, shared with timm


def test_create_pretrained_from_the_hub_gives_timms_logits(tmp_path, monkeypatch):
    timm = pytest.importorskip("timm")
    from safetensors.torch import save as safetensors_bytes

    peer = randomize_batch_norm(timm.create_model("mobilenetv4_conv_small", pretrained=False))
    served = safetensors_bytes({k: v.contiguous() for k, v in peer.state_dict().items()})
    fake_hub(monkeypatch, {(REPO, "model.safetensors"): served}, tmp_path / "hf")
    model = mobilenet.create_pretrained(REPO, cache_dir=str(tmp_path / "cache"))
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert_same_logits(model(x), peer(x), "timm V4 Conv-S through the Hub")


@pytest.mark.parametrize("switch", ["MOBILENET_OFFLINE", "HF_HUB_OFFLINE"])
def test_offline_uses_only_the_hub_cache_and_names_url_and_path(switch, hub_record, tmp_path, monkeypatch):
    monkeypatch.setenv(switch, "1")
    calls = fake_hub(monkeypatch, {(REPO, "model.safetensors"): b"x"}, tmp_path / "hf")
    with pytest.raises(FileNotFoundError) as info:
        fetch(hub_record, tmp_path / "cache")
    message = str(info.value)
    assert calls[0]["local_files_only"] is True and "\n" not in message
    assert hub_record.url in message and str(cached_path(hub_record, tmp_path / "cache")) in message
    assert "MOBILENET_OFFLINE or HF_HUB_OFFLINE" in message


def test_a_corrupt_hub_file_is_refused_and_removed(hub_record, tmp_path, monkeypatch):
    fake_hub(monkeypatch, {(REPO, "model.safetensors"): b"good"}, tmp_path / "hf")
    first = fetch(hub_record, tmp_path / "cache", offline=False)
    first.resolve().write_bytes(b"evil")  # the blob no longer matches its SHA-256 name
    with pytest.raises(ValueError, match="sha256 .* != the Hub's .*it was removed from the Hugging Face cache"):
        fetch(hub_record, tmp_path / "cache", offline=False)
    assert not first.resolve().exists()
    assert fetch(hub_record, tmp_path / "cache", offline=False).read_bytes() == b"good"  # downloaded again


def test_a_file_placed_in_our_cache_wins_and_without_the_hub_offline_still_names_url_and_path(
        hub_record, tmp_path, monkeypatch):
    calls = fake_hub(monkeypatch, {}, tmp_path / "hf")
    target = cached_path(hub_record, tmp_path)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"placed by hand")
    assert fetch(hub_record, tmp_path).read_bytes() == b"placed by hand" and calls == []
    target.unlink()
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # the hub extra is not installed
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match=f"HF_HUB_OFFLINE.*{hub_record.url} and place it at {target}"):
        fetch(hub_record, tmp_path)


@pytest.fixture
def model():
    model = randomize_batch_norm(mobilenet.create_model("mobilenet_v3_small_050", num_classes=3, resolution=160))
    model.preprocessing = {"resolution": 160, "crop_pct": 1.0, "mean": [0.5] * 3, "std": [0.5] * 3}
    model.class_names = ["ant", "bee", "wasp"]
    return model


def test_save_pretrained_and_from_pretrained_a_folder(model, tmp_path):
    folder = save_pretrained(model, tmp_path / "mine")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    loaded = from_pretrained(folder)
    x = torch.randn(2, 3, 160, 160)
    assert torch.equal(loaded(x), model(x))
    assert loaded.class_names == ["ant", "bee", "wasp"]
    assert loaded.preprocessing == Preprocessing.from_dict(model.preprocessing)
    assert loaded.config == model.config and not loaded.training


def test_push_to_hub_then_from_pretrained_the_repository(model, tmp_path, monkeypatch):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    remote = tmp_path / "remote"
    created = []

    def upload_folder(self, *, repo_id, folder_path, revision=None, commit_message=None, **kwargs):
        shutil.copytree(folder_path, remote / repo_id)
        return f"https://huggingface.co/{repo_id}/commit/0123"

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo",
                        lambda self, repo_id, **kwargs: created.append((repo_id, kwargs)))
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    url = push_to_hub(model, "me/mnv3-bees", private=True)
    assert url == "https://huggingface.co/me/mnv3-bees/commit/0123"
    assert created == [("me/mnv3-bees", {"private": True, "exist_ok": True})]
    files = {("me/mnv3-bees", p.name): p.read_bytes() for p in (remote / "me" / "mnv3-bees").iterdir()}
    calls = fake_hub(monkeypatch, files, tmp_path / "hf")
    loaded = from_pretrained("me/mnv3-bees")
    x = torch.randn(1, 3, 160, 160)
    assert torch.equal(loaded(x), model(x)) and loaded.class_names == model.class_names
    assert calls[0]["repo_id"] == "me/mnv3-bees" and calls[0]["filename"] == "model.safetensors"


def test_from_pretrained_errors_name_what_was_asked(tmp_path, monkeypatch):
    fake_hub(monkeypatch, {}, tmp_path / "hf")
    with pytest.raises(FileNotFoundError, match=r"'me/absent' is not a local folder or file, and model.safetensors "
                                                r"of the Hub repository 'me/absent' cannot be downloaded"):
        from_pretrained("me/absent")
    with pytest.raises(FileNotFoundError, match="neither a local folder or file nor a Hub repository id"):
        from_pretrained(str(tmp_path / "a" / "b" / "c"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="has no model.safetensors"):
        from_pretrained(tmp_path / "empty")
    with pytest.raises(ValueError, match="repo_id must look like 'owner/name'"):
        push_to_hub(mobilenet.create_model("mobilenet_v2_035"), "no-owner")
