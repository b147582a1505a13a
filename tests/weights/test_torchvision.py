"""torchvision MobileNetV2/V3 state dicts load into our models and give the same logits."""

from __future__ import annotations

import pytest
import torch
import torchvision

import mobilenet
from mobilenet.models import build_model
from mobilenet.weights import load_weights
from tests.weights.helpers import SIZES, TOLERANCE, assert_same_logits, max_abs_diff, randomize_batch_norm

PEERS = (("mobilenet_v2", "mobilenet_v2"), ("mobilenet_v3_large", "mobilenet_v3_large"),
         ("mobilenet_v3_small", "mobilenet_v3_small"))


@pytest.mark.parametrize("peer_name, ours", PEERS)
def test_same_logits(peer_name, ours, tmp_path, inputs):
    torch.manual_seed(0)
    peer = randomize_batch_norm(getattr(torchvision.models, peer_name)())
    path = tmp_path / f"{peer_name}.pth"
    torch.save(peer.state_dict(), path)
    model = mobilenet.create_model(ours, weights=str(path), convention="torchvision").eval()
    with torch.no_grad():
        for size in SIZES:
            x = inputs(size)
            assert_same_logits(model(x), peer(x), f"torchvision {peer_name} at {size}")


def test_other_width_needs_torchvision_convention(tmp_path, inputs):
    """torchvision's V3 at width 0.75 scales expansions like channels: the paper model does not fit, and
    create_model builds torchvision's convention for a torchvision file by itself."""
    peer = randomize_batch_norm(torchvision.models.mobilenet_v3_large(width_mult=0.75))
    path = tmp_path / "v3_075.pth"
    torch.save(peer.state_dict(), path)
    with pytest.raises(ValueError, match="does not fit"):
        load_weights(build_model("mobilenet_v3_large_075"), str(path))
    with pytest.raises(ValueError, match="convention='paper' \\(they need 'torchvision'\\)"):
        mobilenet.create_model("mobilenet_v3_large_075", weights=str(path), convention="paper")
    model = mobilenet.create_model("mobilenet_v3_large_075", weights=str(path))
    with torch.no_grad():
        x = inputs(193)
        assert max_abs_diff(model(x), peer(x)) <= TOLERANCE
