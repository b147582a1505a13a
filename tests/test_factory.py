"""``mobilenet.create_model`` with weights, as timm and torchvision users expect (issue 9)."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision

import mobilenet
from mobilenet.cli.main import main
from mobilenet.data.images import load_images

KERAS_V1 = "data/pretrained/keras_mobilenet_v1_0.25_224_imagenet.h5"
PHOTOS = ("cat.bmp", "parrot.jpg", "hot_dog.jpg", "grace_hopper.bmp")


@pytest.fixture(scope="module")
def keras_file(request):
    shared = request.getfixturevalue("shared_dir")
    path = shared / KERAS_V1
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


def test_keras_file_gets_its_padding_and_epsilon_and_matches_predict(keras_file, shared_dir, capsys):
    """create_model(name, weights=FILE) applies what the file needs (Keras V1 padding, BN eps 1e-3)
    and gives the logits that `mobilenet predict` prints (Grace Hopper: bow tie, not academic gown)."""
    model = mobilenet.create_model("mobilenet_v1_025", weights=str(keras_file))
    assert model.padding == "keras_v1" and model.bn_eps == 1e-3 and not model.training
    images = [str(shared_dir / "data" / "images" / name) for name in PHOTOS]
    batch = load_images(images, model.preprocessing)
    with torch.no_grad():
        probabilities = model(batch.tensor).softmax(-1)
    assert main(["predict", "mobilenet_v1_025", *images, "--weights", str(keras_file), "--format", "json",
                 "--top", "1"]) == 0
    printed = json.loads(capsys.readouterr().out)["results"]
    for row, result in zip(probabilities, printed):
        assert int(row.argmax()) == result["top"][0]["index"]
        assert float(row.max()) == pytest.approx(result["top"][0]["probability"], abs=1e-6)
    assert [r["top"][0]["index"] for r in printed] == [285, 88, 934, 457]
    with pytest.raises(ValueError, match="padding='symmetric' \\(they need 'keras_v1'\\)"):
        mobilenet.create_model("mobilenet_v1_025", weights=str(keras_file), padding="symmetric")


def test_new_head_on_pretrained_weights(keras_file):
    pretrained = mobilenet.create_model("mobilenet_v1_025", weights=str(keras_file))
    model = mobilenet.create_model("mobilenet_v1_025", weights=str(keras_file), num_classes=2)
    assert model.num_classes == 2 and model.classifier.out_features == 2 and model.class_names == []
    trunk = {k: v for k, v in pretrained.state_dict().items() if not k.startswith("classifier")}
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in trunk.items())
    assert model.preprocessing == pretrained.preprocessing  # the weights' normalisation stays


def test_backbone_only_load_of_classification_weights(keras_file):
    full = mobilenet.create_model("mobilenet_v1_025", weights=str(keras_file))
    backbone = mobilenet.create_model("mobilenet_v1_025", weights=str(keras_file), features_only=True,
                                      out_indices=(3, 4))
    x = torch.randn(1, 3, 160, 160)
    with torch.no_grad():
        for got, want in zip(backbone(x), full.forward_multiscale(x)[3:]):
            assert torch.equal(got, want)


def test_torchvision_file_gets_its_convention(tmp_path):
    peer = torchvision.models.mobilenet_v3_small(width_mult=0.75)
    path = tmp_path / "tv.pth"
    torch.save(peer.state_dict(), path)
    model = mobilenet.create_model("mobilenet_v3_small_075", weights=str(path))
    assert model.config.options["convention"] == "torchvision"
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        assert torch.allclose(model(x), peer.eval()(x), atol=1e-4)


def test_self_describing_files_need_no_name(tmp_path):
    model = mobilenet.create_model("mobilenet_v3_small_050", num_classes=3)
    from mobilenet.weights import format as our_format

    path = our_format.save(model, tmp_path / "m.safetensors", class_names=["a", "b", "c"])
    again = mobilenet.create_model(weights=str(path))
    assert again.config == model.config and again.class_names == ["a", "b", "c"]
    with pytest.raises(ValueError, match="hold a mobilenet_v3_small_050 .*not a mobilenet_v2"):
        mobilenet.create_model("mobilenet_v2", weights=str(path))


def test_pretrained_true_uses_the_default_record(monkeypatch, tmp_path):
    monkeypatch.setenv("MOBILENET_OFFLINE", "1")
    monkeypatch.setenv("MOBILENET_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="torchvision/mobilenet_v3_large.imagenet1k_v2"):
        mobilenet.create_model("mobilenet_v3_large", pretrained=True)
    with pytest.raises(ValueError, match="no pretrained weights are known for 'mobilenet_v3_large_125'"):
        mobilenet.create_model("mobilenet_v3_large_125", pretrained=True)


def test_transforms_give_the_weights_preprocessing(keras_file):
    model = mobilenet.create_model("mobilenet_v1_025", weights=str(keras_file))
    from PIL import Image

    tensor = mobilenet.transforms(model)(Image.new("RGB", (300, 200), (255, 255, 255)))
    assert tuple(tensor.shape) == (3, 224, 224) and torch.allclose(tensor, torch.ones_like(tensor))  # [-1, 1]
    assert mobilenet.transforms(mobilenet.create_model("mobilenet_v2")).transforms[-1].mean == [0.485, 0.456, 0.406]
