"""Keras Applications MobileNets (Keras 3, torch backend, random weights) saved as .h5 and .keras
load into our models and give the same logits; the real Keras ImageNet checkpoint classifies the
team's photos as Keras does."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import mobilenet  # noqa: E402
from mobilenet.data.images import load_images  # noqa: E402
from mobilenet.models import build_model  # noqa: E402
from mobilenet.weights import get_record, load_weights  # noqa: E402
from mobilenet.weights.labels import class_names  # noqa: E402
from mobilenet.weights.loading import source_options  # noqa: E402
from tests.weights.helpers import TOLERANCE, assert_same_logits  # noqa: E402

if keras.backend.backend() != "torch":
    pytest.skip("these tests run Keras with the torch backend (KERAS_BACKEND=torch)", allow_module_level=True)

# (Keras application, its arguments, our name, size, file suffix); every family at 224 and 193;
# .h5 and .keras full models and a Keras 3 weights-only file.
PEERS = (
    ("MobileNet", {"alpha": 0.25}, "mobilenet_v1_025", 224, ".h5"),
    ("MobileNet", {"alpha": 0.25}, "mobilenet_v1_025", 193, ".keras"),
    ("MobileNetV2", {"alpha": 0.35}, "mobilenet_v2_035", 224, ".keras"),
    ("MobileNetV2", {"alpha": 0.35}, "mobilenet_v2_035", 193, ".h5"),
    ("MobileNetV3Small", {"alpha": 0.75}, "mobilenet_v3_small_075", 224, ".h5"),
    ("MobileNetV3Large", {"alpha": 1.0}, "mobilenet_v3_large", 193, ".keras"),
    ("MobileNetV3Small", {"minimalistic": True}, "mobilenet_v3_small_minimal", 193, ".weights.h5"),
    ("MobileNetV3Large", {"minimalistic": True}, "mobilenet_v3_large_minimal", 224, ".keras"),
)


def _randomize_keras_batch_norm(model, size: int, v3: bool, seed: int = 0):
    """Random BN affine terms; moving statistics measured on random images (see tests.weights.helpers)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([rng.uniform(0.75, 1.25, gamma.shape).astype("float32"),
                               rng.normal(0, 0.1, beta.shape).astype("float32"), mean, variance])
            layer.momentum = 0.0  # the next training-mode call sets the moving statistics to its batch's
    calibration = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(seed))
    model(_keras_input(calibration, v3), training=True)
    return model


def _keras_input(x: torch.Tensor, v3: bool) -> np.ndarray:
    nhwc = x.permute(0, 2, 3, 1).numpy()
    # Keras V3 rescales [0, 255] to [-1, 1] itself (include_preprocessing); ours takes [-1, 1].
    return (nhwc + 1.0) * 127.5 if v3 else nhwc


def _keras_logits(model, x: torch.Tensor, v3: bool) -> np.ndarray:
    return np.asarray(model(_keras_input(x, v3), training=False).detach().cpu())


@pytest.mark.parametrize("application, kwargs, ours, size, suffix", PEERS)
def test_same_logits(application, kwargs, ours, size, suffix, tmp_path, inputs):
    keras.utils.set_random_seed(0)
    peer = getattr(keras.applications, application)(weights=None, input_shape=(size, size, 3),
                                                     classifier_activation=None, **kwargs)
    _randomize_keras_batch_norm(peer, size, v3="V3" in application)
    path = tmp_path / f"peer{suffix}"
    peer.save_weights(str(path)) if suffix == ".weights.h5" else peer.save(str(path))
    model = mobilenet.create_model(ours, weights=str(path), **source_options("keras", ours)).eval()
    x = inputs(size)
    expected = _keras_logits(peer, x, v3="V3" in application)
    with torch.no_grad():
        assert_same_logits(model(x), expected, f"keras {application} {kwargs} {suffix} at {size}")


def test_keras_v1_odd_size_needs_its_padding(tmp_path, inputs):
    """At odd sizes Keras V1's fixed (0, 1) padding differs from TF SAME: the test can tell."""
    keras.utils.set_random_seed(0)
    peer = keras.applications.MobileNet(weights=None, alpha=0.25, input_shape=(193, 193, 3),
                                        classifier_activation=None)
    _randomize_keras_batch_norm(peer, 193, v3=False)
    path = tmp_path / "v1.h5"
    peer.save(str(path))
    with pytest.raises(ValueError, match="padding='tf_same' \\(they need 'keras_v1'\\)"):
        mobilenet.create_model("mobilenet_v1_025", weights=str(path), padding="tf_same")
    model = build_model("mobilenet_v1_025", padding="tf_same", bn_eps=1e-3)  # asked for explicitly: built as asked
    load_weights(model, str(path))
    model.eval()
    x = inputs(193)
    with torch.no_grad():
        ours_logits = model(x).numpy()
    assert ours_logits.shape == (2, 1000)
    assert float(np.abs(ours_logits - _keras_logits(peer, x, v3=False)).max()) > 10 * TOLERANCE


# The reference outputs in ../shared/data/README.md (Keras 3.15, PIL bilinear resize to 224x224).
REFERENCE = {
    "cat.bmp": (285, "Egyptian cat", 0.411),
    "parrot.jpg": (88, "macaw", 0.940),
    "hot_dog.jpg": (934, "hotdog", 0.528),
    "grace_hopper.bmp": (457, "bow tie", 0.277),
}


def test_real_keras_checkpoint_classifies_like_keras(shared_dir):
    checkpoint = shared_dir / "data" / "pretrained" / "keras_mobilenet_v1_0.25_224_imagenet.h5"
    if not checkpoint.is_file():
        pytest.skip(f"{checkpoint} is absent")
    record = get_record("keras/mobilenet_0.25_224")
    model = mobilenet.create_model("mobilenet_v1", width_mult=0.25, weights=str(checkpoint),
                                   **record.create_options()).eval()
    images = [shared_dir / "data" / "images" / name for name in REFERENCE]
    batch = load_images(images, record.preprocessing.to_dict())
    assert not batch.skipped
    with torch.no_grad():
        probabilities = model(batch.tensor).softmax(-1)
    names = class_names(record.labels)
    for path, row in zip(batch.paths, probabilities):
        index, name, probability = REFERENCE[os.path.basename(path)]
        assert int(row.argmax()) == index and names[index] == name, path
        assert abs(float(row[index]) - probability) <= 0.01, (path, float(row[index]))


def test_real_checkpoint_into_wrong_width_is_named(shared_dir):
    checkpoint = shared_dir / "data" / "pretrained" / "keras_mobilenet_v1_0.25_224_imagenet.h5"
    if not checkpoint.is_file():
        pytest.skip(f"{checkpoint} is absent")
    model = mobilenet.create_model("mobilenet_v1_050", padding="keras_v1", bn_eps=1e-3)
    with pytest.raises(ValueError, match=r"'conv1/kernel' \(3, 3, 3, 8\) does not fit 'stem.conv.weight'"):
        mobilenet.weights.load_weights(model, str(checkpoint))


def _renamed(peer):
    """The same Keras model with every layer renamed (as Model Maker or model-zoo exports name them)."""
    count = iter(range(10_000))

    def rename(layer):
        config = {**layer.get_config(), "name": f"layer_{next(count)}"}
        return type(layer).from_config(config)
    renamed = keras.models.clone_model(peer, clone_function=rename)
    renamed.set_weights(peer.get_weights())
    assert not {layer.name for layer in renamed.layers} & {"conv1", "Conv1", "conv", "predictions", "logits"}
    return renamed


def _sequential_rebuild(size: int):
    """A transfer-learning rebuild: the application without top inside a Sequential with a new head."""
    base = keras.applications.MobileNetV2(weights=None, alpha=0.35, input_shape=(size, size, 3), include_top=False)
    _randomize_keras_batch_norm(base, size, v3=False)
    return keras.Sequential([keras.Input((size, size, 3)), base, keras.layers.GlobalAveragePooling2D(),
                             keras.layers.Dropout(0.2), keras.layers.Dense(1000)])


# (how the file was made, our name, file suffix); renamed V1 and V3 (SE) models, Sequential V2 rebuilds.
OTHER_NAMES = (
    ("renamed", "MobileNet", {"alpha": 0.25}, "mobilenet_v1_025", ".h5"),
    ("renamed", "MobileNetV3Small", {"alpha": 0.75}, "mobilenet_v3_small_075", ".keras"),
    ("sequential", "MobileNetV2", {}, "mobilenet_v2_035", ".h5"),
    ("sequential", "MobileNetV2", {}, "mobilenet_v2_035", ".keras"),
)


@pytest.mark.parametrize("how, application, kwargs, ours, suffix", OTHER_NAMES)
def test_other_layer_names_load_by_order_with_a_warning(how, application, kwargs, ours, suffix, tmp_path, inputs):
    keras.utils.set_random_seed(0)
    size = 96
    if how == "renamed":
        original = getattr(keras.applications, application)(weights=None, input_shape=(size, size, 3),
                                                            classifier_activation=None, **kwargs)
        _randomize_keras_batch_norm(original, size, v3="V3" in application)
        peer = _renamed(original)
    else:
        peer = _sequential_rebuild(size)
    path = tmp_path / f"peer{suffix}"
    peer.save(str(path))
    model = mobilenet.create_model(ours, **source_options("keras", ours))
    with pytest.warns(UserWarning, match="loaded all .* layers by their order"):
        mobilenet.weights.load_weights(model, str(path))
    x = inputs(size)
    with torch.no_grad():
        assert_same_logits(model.eval()(x), _keras_logits(peer, x, v3="V3" in application), f"{how} {suffix}")


def test_other_layer_names_with_other_shapes_keep_the_strict_error(tmp_path):
    keras.utils.set_random_seed(0)
    peer = _renamed(keras.applications.MobileNet(weights=None, alpha=0.25, input_shape=(96, 96, 3)))
    path = tmp_path / "renamed.h5"
    peer.save(str(path))
    model = mobilenet.create_model("mobilenet_v1_050", **source_options("keras", "mobilenet_v1_050"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="missing in the checkpoint: conv1/kernel"):
            mobilenet.weights.load_weights(model, str(path))
