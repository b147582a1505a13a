"""Agreement with the peers: same parameter count and same layers as torchvision, timm and Keras.

Every model is built with random weights (no network). Layers are compared as the ordered list
of conv/linear weight shapes in PyTorch layout, with bias and stride (``tests.models.helpers``); the test
fails at the first layer that differs and names it. Issue 2, second "Must show" bullet.
"""

from __future__ import annotations

import os

import pytest
import torch
import torchvision
from tests.models.helpers import (
    activation_kinds,
    assert_same_layers,
    feature_shape,
    keras_feature_shape,
    keras_layers,
    keras_weight_counts,
    num_bn_statistics,
    num_params,
    torch_layers,
)

from mobilenet import create_model


def ours(name: str, width_mult: float, **options: object) -> torch.nn.Module:
    return create_model(name, width_mult=width_mult, **options).eval()


def assert_same_activations(mine: torch.nn.Module, peer: torch.nn.Module, peer_name: str) -> None:
    a, b = activation_kinds(mine), activation_kinds(peer)
    for index, (x, y) in enumerate(zip(a, b)):
        assert x == y, f"activation {index}: ours {x} vs {peer_name} {y}"
    assert len(a) == len(b), f"{len(a)} activations in ours vs {len(b)} in {peer_name}"


def assert_same_as_torch_peer(mine: torch.nn.Module, peer: torch.nn.Module, peer_name: str,
                              peer_features: str) -> None:
    """Layers, parameter count, activations, then the 224 feature-map shape (``peer_features``:
    the peer's method or submodule that gives the map before pooling)."""
    assert_same_layers(torch_layers(mine), torch_layers(peer), peer_name)
    assert num_params(mine) == num_params(peer), f"params: ours {num_params(mine)} vs {peer_name} {num_params(peer)}"
    assert_same_activations(mine, peer, peer_name)
    assert feature_shape(mine) == feature_shape(peer, peer_features)


# --- torchvision ---------------------------------------------------------------------------

@pytest.mark.parametrize("width", [0.35, 0.5, 0.75, 1.0, 1.4])
def test_mobilenet_v2_matches_torchvision(width: float) -> None:
    peer = torchvision.models.mobilenet_v2(weights=None, width_mult=width).eval()
    mine = ours("mobilenet_v2", width)
    assert_same_as_torch_peer(mine, peer, f"torchvision mobilenet_v2(width_mult={width})", "features")


@pytest.mark.parametrize("arch", ["mobilenet_v3_large", "mobilenet_v3_small"])
@pytest.mark.parametrize("width", [0.5, 0.75, 1.0])
def test_mobilenet_v3_matches_torchvision_convention(arch: str, width: float) -> None:
    peer = getattr(torchvision.models, arch)(weights=None, width_mult=width).eval()
    mine = ours(arch, width, convention="torchvision")
    assert_same_as_torch_peer(mine, peer, f"torchvision {arch}(width_mult={width})", "features")


@pytest.mark.parametrize("arch", ["mobilenet_v3_large", "mobilenet_v3_small"])
def test_paper_convention_differs_from_torchvision_below_width_1(arch: str) -> None:
    """The two conventions are really different models at 0.75 (so the option is not a no-op)."""
    peer = getattr(torchvision.models, arch)(weights=None, width_mult=0.75)
    with pytest.raises(AssertionError):
        assert_same_layers(torch_layers(ours(arch, 0.75)), torch_layers(peer), "torchvision")


# --- timm ----------------------------------------------------------------------------------

def test_mobilenet_v1_matches_timm() -> None:
    """timm's ``mobilenetv1_100``: ReLU6 after every conv and BN, last depthwise at stride 1.

    The layer zip compares strides and dilations too, so the last depthwise stride is checked there.
    """
    timm = pytest.importorskip("timm")
    peer = timm.create_model("mobilenetv1_100", pretrained=False).eval()
    mine = ours("mobilenet_v1", 1.0)
    assert_same_as_torch_peer(mine, peer, "timm mobilenetv1_100", "forward_features")
    assert set(activation_kinds(peer)) == {"ReLU6"}


# --- Keras ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")  # read when keras is first imported
    return pytest.importorskip("keras")


def assert_same_as_keras(mine: torch.nn.Module, peer, peer_name: str) -> None:
    """Keras counts BN moving statistics as non-trainable weights; our parameters are its trainable ones."""
    assert_same_layers(torch_layers(mine), keras_layers(peer), peer_name)
    trainable, non_trainable = keras_weight_counts(peer)
    assert num_params(mine) == trainable, f"params: ours {num_params(mine)} vs {peer_name} trainable {trainable}"
    assert num_bn_statistics(mine) == non_trainable
    assert feature_shape(mine) == keras_feature_shape(peer)


@pytest.mark.parametrize("alpha", [0.25, 0.5, 0.75, 1.0])
def test_mobilenet_v1_matches_keras(keras, alpha: float) -> None:
    peer = keras.applications.MobileNet(alpha=alpha, weights=None, input_shape=(224, 224, 3))
    assert_same_as_keras(ours("mobilenet_v1", alpha), peer, f"Keras MobileNet(alpha={alpha})")


@pytest.mark.parametrize("alpha", [0.35, 0.5, 0.75, 1.0, 1.3, 1.4])
def test_mobilenet_v2_matches_keras(keras, alpha: float) -> None:
    peer = keras.applications.MobileNetV2(alpha=alpha, weights=None, input_shape=(224, 224, 3))
    assert_same_as_keras(ours("mobilenet_v2", alpha), peer, f"Keras MobileNetV2(alpha={alpha})")


@pytest.mark.parametrize("minimalistic", [False, True], ids=["full", "minimalistic"])
@pytest.mark.parametrize("alpha", [0.75, 1.0])
@pytest.mark.parametrize("size", ["Small", "Large"])
def test_mobilenet_v3_matches_keras(keras, size: str, alpha: float, minimalistic: bool) -> None:
    peer = getattr(keras.applications, f"MobileNetV3{size}")(
        alpha=alpha, minimalistic=minimalistic, weights=None, include_preprocessing=False,
        input_shape=(224, 224, 3),
    )
    name = f"mobilenet_v3_{size.lower()}" + ("_minimal" if minimalistic else "")
    peer_name = f"Keras MobileNetV3{size}(alpha={alpha}, minimalistic={minimalistic})"
    assert_same_as_keras(ours(name, alpha), peer, peer_name)


# --- the comparison itself can fail --------------------------------------------------------

def test_layer_comparison_names_the_first_differing_layer() -> None:
    wide = torch_layers(ours("mobilenet_v2", 1.0))
    narrow = torch_layers(ours("mobilenet_v2", 0.75))
    with pytest.raises(AssertionError, match=r"layer 0 differs: ours 'stem.conv'"):
        assert_same_layers(wide, narrow, "peer")
    with pytest.raises(AssertionError, match="first unmatched"):
        assert_same_layers(wide, wide[:-1], "peer")
