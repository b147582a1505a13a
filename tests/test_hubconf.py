"""``hubconf.py``: torch.hub sees one entry per registered model and builds what create_model builds."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

import mobilenet
from mobilenet.weights import RECORDS
from mobilenet.weights import format as our_format

REPO = str(Path(__file__).resolve().parents[1])


def test_the_entry_points_are_exactly_the_registered_models():
    """What ``torch.hub.list`` shows for a GitHub repository (it has no local mode): the public callables."""
    spec = importlib.util.spec_from_file_location("hubconf", Path(REPO) / "hubconf.py")
    hubconf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubconf)
    entries = sorted(n for n in dir(hubconf) if callable(getattr(hubconf, n)) and not n.startswith("_"))
    assert entries == mobilenet.list_models()
    assert "create_model('mobilenet_v4_conv_small'" in hubconf.mobilenet_v4_conv_small.__doc__


@pytest.mark.parametrize("name, options", [
    ("mobilenet_v3_large", {}),
    ("mobilenet_v1_025", {"num_classes": 10, "resolution": 128}),
    ("mobilenet_v4_conv_small", {"width_mult": 0.75, "in_chans": 1}),
])
def test_torch_hub_load_builds_what_create_model_builds(name, options):
    torch.manual_seed(0)
    model = torch.hub.load(REPO, name, source="local", pretrained=False, **options)
    assert isinstance(model, mobilenet.MobileNet)
    assert model.config == mobilenet.create_model(name, **options).config


def test_pretrained_takes_a_weights_file_or_the_only_record(tmp_path):
    source = mobilenet.create_model("mobilenet_v2_035", num_classes=4)
    path = our_format.save(source, tmp_path / "m.safetensors")
    model = torch.hub.load(REPO, "mobilenet_v2_035", source="local", pretrained=str(path), num_classes=4)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), source.state_dict().values()))
    with pytest.raises(ValueError, match="no pretrained weights are known for 'mobilenet_v3_large_125'"):
        torch.hub.load(REPO, "mobilenet_v3_large_125", source="local", pretrained=True)
