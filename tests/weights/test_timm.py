"""timm MobileNet files (.pth and .safetensors) load into our models and give the same logits."""

from __future__ import annotations

import pytest
import torch

import mobilenet
from mobilenet.weights import get_record, load_weights
from tests.weights.helpers import SIZES, TOLERANCE, assert_same_logits, max_abs_diff, randomize_batch_norm

timm = pytest.importorskip("timm")

# (timm name, our name, create_model options, file suffix)
PEERS = (
    ("mobilenetv1_100", "mobilenet_v1", {}, ".pth"),
    ("mobilenetv2_100", "mobilenet_v2", {}, ".safetensors"),
    ("mobilenetv3_large_100", "mobilenet_v3_large", {"bn_eps": 1e-5}, ".pth"),
    ("tf_mobilenetv3_large_075", "mobilenet_v3_large_075", {"padding": "tf_same"}, ".safetensors"),
    ("tf_mobilenetv3_small_minimal_100", "mobilenet_v3_small_minimal", {"padding": "tf_same"}, ".pth"),
    ("mobilenetv3_small_050", "mobilenet_v3_small_050", {"bn_eps": 1e-5, "fixed_stem": True}, ".pth"),
    ("mobilenetv4_conv_small", "mobilenet_v4_conv_small", {}, ".safetensors"),
    ("mobilenetv4_conv_small_050", "mobilenet_v4_conv_small_050", {}, ".pth"),
    ("mobilenetv4_conv_medium", "mobilenet_v4_conv_medium", {}, ".pth"),
)


def _save(peer: torch.nn.Module, path) -> None:
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in peer.state_dict().items()}, str(path))
    else:
        torch.save(peer.state_dict(), path)


@pytest.mark.parametrize("peer_name, ours, options, suffix", PEERS)
def test_same_logits(peer_name, ours, options, suffix, tmp_path, inputs):
    torch.manual_seed(0)
    peer = randomize_batch_norm(timm.create_model(peer_name, pretrained=False))
    path = tmp_path / f"{peer_name}{suffix}"
    _save(peer, path)
    model = mobilenet.create_model(ours, weights=str(path), **options).eval()
    with torch.no_grad():
        for size in SIZES:
            x = inputs(size)
            assert_same_logits(model(x), peer(x), f"timm {peer_name} {suffix} at {size}")


@pytest.mark.parametrize("peer_name", ["mobilenetv4_hybrid_medium", "mobilenetv4_hybrid_large"])
def test_hybrid_v4_same_logits(peer_name, tmp_path, inputs):
    """Mobile MQA and layer scales: layer scales set near 1 (timm starts them at 1e-5, which would
    let a wrong attention map pass). timm uses a fused attention kernel whose sums round differently,
    so the bound is relative to the logits' spread."""
    torch.manual_seed(0)
    peer = timm.create_model(peer_name, pretrained=False)
    with torch.no_grad():
        for module in peer.modules():
            if hasattr(module, "gamma"):
                module.gamma.uniform_(0.5, 1.5)
    peer = randomize_batch_norm(peer)
    path = tmp_path / f"{peer_name}.safetensors"
    _save(peer, path)
    model = mobilenet.create_model(peer_name.replace("mobilenetv4", "mobilenet_v4"), weights=str(path)).eval()
    with torch.no_grad():
        for size in SIZES:
            x = inputs(size)
            expected = peer(x)
            assert float(expected.std()) > 1.0
            assert max_abs_diff(model(x), expected) <= 1e-5 * float(expected.abs().max()) + TOLERANCE, size


def test_tf_port_needs_same_padding(tmp_path, inputs):
    """The comparison can fail: a tf_ port in a symmetric-padding model is measurably off.

    At even sizes TF "SAME" pads stride-2 convs (0, 1), not (1, 1); at odd sizes the two agree.
    """
    peer = randomize_batch_norm(timm.create_model("tf_mobilenetv3_small_minimal_100", pretrained=False))
    path = tmp_path / "tf.pth"
    _save(peer, path)
    model = mobilenet.create_model("mobilenet_v3_small_minimal", weights=str(path)).eval()
    with torch.no_grad():
        assert max_abs_diff(model(inputs(193)), peer(inputs(193))) <= TOLERANCE
        assert max_abs_diff(model(inputs(224)), peer(inputs(224))) > 100 * TOLERANCE


def test_records_carry_the_options_the_tests_use():
    for peer_name, ours, options, _ in PEERS:
        matches = [r for r in mobilenet.weights.list_records(f"timm/{peer_name}.*")]
        assert len(matches) == 1, peer_name
        assert matches[0].model == ours and matches[0].options == options


def test_record_without_its_options_names_the_call_to_make():
    """timm's small_050 keeps a 16-channel stem: a default model cannot take it and says how."""
    record = get_record("timm/mobilenetv3_small_050.lamb_in1k")
    model = mobilenet.create_model("mobilenet_v3_small_050", bn_eps=1e-5)
    with pytest.raises(ValueError, match="fixed_stem=True"):
        load_weights(model, record.name)
