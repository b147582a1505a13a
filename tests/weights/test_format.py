"""Our format: safetensors + JSON rebuild the model, preprocessing and labels without other code."""

from __future__ import annotations

import json

import pytest
import torch

import mobilenet
from mobilenet.data.preprocessing import Preprocessing
from mobilenet.weights import format as our_format
from mobilenet.weights import load_weights
from tests.weights.helpers import randomize_batch_norm


def test_round_trip_rebuilds_model_and_metadata(tmp_path, inputs):
    model = randomize_batch_norm(mobilenet.create_model("mobilenet_v3_large_075", padding="tf_same", num_classes=3))
    pre = {"resolution": 160, "crop_pct": 0.875, "mean": [0.5] * 3, "std": [0.5] * 3}
    path = our_format.save(model, tmp_path / "m.safetensors", pre, ["a", "b", "c"], {"record": "test"})
    sidecar = json.loads((tmp_path / "m.json").read_text())
    assert sidecar["model_config"] == model.config.to_dict() and sidecar["class_names"] == ["a", "b", "c"]
    rebuilt, saved = our_format.build(path)
    assert rebuilt.config == model.config and Preprocessing.from_dict(saved.preprocessing) == Preprocessing.from_dict(pre) and saved.source == {"record": "test"}
    with torch.no_grad():
        x = inputs(193)
        assert torch.equal(rebuilt(x), model(x))
    other = mobilenet.create_model("mobilenet_v3_large_075", padding="tf_same", num_classes=3)
    load_weights(other, str(path))
    assert other.class_names == ["a", "b", "c"] and other.preprocessing == Preprocessing.from_dict(pre)
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))


def test_wrong_architecture_is_named(tmp_path):
    path = our_format.save(mobilenet.create_model("mobilenet_v2_050"), tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match="does not fit"):
        load_weights(mobilenet.create_model("mobilenet_v2"), str(path))


def test_save_refuses_bad_names(tmp_path):
    model = mobilenet.create_model("mobilenet_v3_small", num_classes=2)
    with pytest.raises(ValueError, match=".safetensors"):
        our_format.save(model, tmp_path / "m.pt")
    with pytest.raises(ValueError, match="3 class names for a model with 2 classes"):
        our_format.save(model, tmp_path / "m.safetensors", class_names=["a", "b", "c"])
