"""Bad checkpoints fail with errors that name the problem, and leave the model untouched."""

from __future__ import annotations

import pytest
import torch
import torchvision

import mobilenet
from mobilenet.weights import load_weights
from tests.weights.helpers import randomize_batch_norm


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
