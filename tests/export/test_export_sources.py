"""Every command takes the same model sources: a registered name with --weights, records, files, runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import mobilenet
from mobilenet.cli.main import main
from mobilenet.data.images import load_images
from mobilenet.export.onnx import export_onnx, make_session, read_metadata
from mobilenet.export.images import list_images
from mobilenet.sources import open_source

KERAS_V1 = "data/pretrained/keras_mobilenet_v1_0.25_224_imagenet.h5"


@pytest.fixture(scope="module")
def keras_file(request) -> Path:
    path = request.getfixturevalue("shared_dir") / KERAS_V1
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


def top1_of_onnx(path: Path, images: list[Path]) -> list[int]:
    meta = read_metadata(path)
    batch = load_images(images, meta["preprocessing"]).tensor.numpy()
    session = make_session(path)
    return [int(i) for i in session.run(None, {session.get_inputs()[0].name: batch})[0].argmax(1)]


@pytest.fixture(scope="module")
def keras_export(keras_file, real_images, tmp_path_factory):
    """Issue 9: `export mobilenet_v1_025 --weights FILE.h5 --int8 --calib DIR`."""
    out = tmp_path_factory.mktemp("keras") / "v1.onnx"
    assert main(["export", "mobilenet_v1_025", "--weights", str(keras_file), "-o", str(out), "--int8",
                 "--calib", str(real_images)]) == 0
    model = mobilenet.create_model("mobilenet_v1_025", weights=str(keras_file))
    images = [p for p in list_images(real_images) if p.parent == real_images]  # ../shared/data/images/*
    with torch.no_grad():
        expected = model(load_images(images, model.preprocessing).tensor).argmax(1).tolist()
    return out, images, expected


def test_export_keras_weights_float_agrees_with_pytorch(keras_export):
    out, images, expected = keras_export
    assert top1_of_onnx(out, images) == expected
    meta = read_metadata(out)
    assert meta["preprocessing"]["resize_mode"] == "squash" and meta["config"]["padding"] == "keras_v1"
    assert meta["class_names"][457] == "bow tie"


def test_export_keras_weights_int8_agrees_on_the_reference_photos(keras_export):
    """The four photos of the Keras reference outputs (../shared/data/README.md)."""
    out, images, expected = keras_export
    reference = ("cat.bmp", "parrot.jpg", "hot_dog.jpg", "grace_hopper.bmp")
    got = dict(zip((p.name for p in images), top1_of_onnx(out.with_name("v1.int8.onnx"), images)))
    assert [got[name] for name in reference] == [285, 88, 934, 457]


@pytest.mark.xfail(strict=True, reason="post-training INT8 of the 0.25-width V1 moves cats_and_dogs.jpg (float "
                   "top-1 cougar at p=0.17, a photo of several animals) to Siamese cat with every calibration "
                   "method and set tried (minmax, entropy, percentile; the shared photos or hymenoptera)")
def test_export_keras_weights_int8_agrees_on_every_shared_photo(keras_export):
    out, images, expected = keras_export
    assert top1_of_onnx(out.with_name("v1.int8.onnx"), images) == expected


def test_bench_fit_predict_take_weights(keras_file, real_images, tmp_path, capsys):
    assert main(["bench", "mobilenet_v1_025", "--weights", str(keras_file), "--runtime", "onnxruntime",
                 "--runs", "3", "--warmup", "1", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["resolution"] == 224 and rows[0]["p50_ms"] > 0
    assert main(["fit", "mobilenet_v1_025", "--weights", str(keras_file), "--latency-ms", "10000",
                 "--runtime", "torch", "--runs", "2", "--resolutions", "160,128", "--format", "json"]) == 0
    fit_rows = json.loads(capsys.readouterr().out)
    assert [r["resolution"] for r in fit_rows] == [160] and fit_rows[0]["weights"] == str(keras_file)
    assert main(["predict", "mobilenet_v1_025", str(real_images / "parrot.jpg"), "--weights", str(keras_file),
                 "--top", "1"]) == 0
    assert "macaw" in capsys.readouterr().out


def test_random_weights_are_said_plainly(tmp_path, capsys):
    assert main(["export", "mobilenet_v1_025", "--resolution", "64", "-o", str(tmp_path / "r.onnx")]) == 0
    assert "has random weights" in capsys.readouterr().err


def test_grayscale_model_exports(tmp_path):
    model = mobilenet.create_model("mobilenet_v3_small_050", in_chans=1, num_classes=10)
    source = open_source("mobilenet_v3_small_050", in_chans=1, num_classes=10, resolution=64)
    source.model.load_state_dict(model.state_dict())
    report = export_onnx(source, tmp_path / "g.onnx", exporter="torchscript")
    assert report.diff_random <= 1e-4
    session = make_session(tmp_path / "g.onnx")
    assert session.get_inputs()[0].shape[1] == 1
    x = np.random.default_rng(0).standard_normal((2, 1, 64, 64)).astype(np.float32)
    with torch.no_grad():
        expected = source.model(torch.from_numpy(x)).numpy()
    assert np.abs(session.run(None, {session.get_inputs()[0].name: x})[0] - expected).max() <= 1e-4
