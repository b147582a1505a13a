"""``mobilenet weights list``, ``convert`` and ``predict`` end to end (no network)."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision

from mobilenet.cli.main import main
from tests.weights.helpers import randomize_batch_norm

REFERENCE_TOP1 = {"cat.bmp": "Egyptian cat", "parrot.jpg": "macaw", "hot_dog.jpg": "hotdog",
                  "grace_hopper.bmp": "bow tie"}


def test_weights_list_json(capsys):
    assert main(["weights", "list", "keras/mobilenet_v3_*", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 6 and all(r["params"] > 0 and r["macs"] > 0 for r in rows)
    large = next(r for r in rows if r["name"] == "keras/mobilenet_v3_large_224_1.0")
    assert large["top1"] == 75.6 and large["options"] == "padding=tf_same"


def test_weights_info_names_cache_path(capsys, tmp_path):
    assert main(["weights", "info", "timm/mobilenetv2_100.ra_in1k", "--cache-dir", str(tmp_path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["cache_path"] == str(tmp_path / "timm" / "mobilenetv2_100_ra-b33bc2c4.pth")
    assert info["create_model"]["name"] == "mobilenet_v2"


def test_user_errors_are_one_line(capsys, tmp_path):
    assert main(["weights", "list", "nothing*"]) == 2
    peer = tmp_path / "tv.pth"
    torch.save(torchvision.models.mobilenet_v2().state_dict(), peer)
    assert main(["predict", str(peer), "x.jpg"]) == 2
    assert main(["convert", "keras/mobilenet_1.0_224", "-o", str(tmp_path / "x.safetensors"),
                 "--padding", "tf_same"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("mobilenet ") for line in lines)
    assert "does not say which model" in lines[1] and "drop padding" in lines[2]


def test_convert_then_predict(capsys, tmp_path):
    peer = randomize_batch_norm(torchvision.models.mobilenet_v3_small())
    source = tmp_path / "tv.pth"
    torch.save(peer.state_dict(), source)
    out = tmp_path / "small.safetensors"
    assert main(["convert", str(source), "--model", "mobilenet_v3_small", "-o", str(out)]) == 0
    config = json.loads(out.with_suffix(".json").read_text())
    assert config["preprocessing"]["crop_pct"] == 0.875 and len(config["class_names"]) == 1000
    image = tmp_path / "gray.png"
    from PIL import Image

    Image.new("L", (50, 70), 128).save(image)
    capsys.readouterr()
    assert main(["predict", str(out), str(image), str(tmp_path / "small.json"), "--format", "json",
                 "--top", "3"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert [s["image"] for s in result["skipped"]] == [str(tmp_path / "small.json")]
    assert "skipped" in captured.err
    top = result["results"][0]["top"]
    assert len(top) == 3 and top[0]["probability"] >= top[1]["probability"] >= top[2]["probability"]


def test_real_keras_checkpoint_predict(capsys, tmp_path, shared_dir):
    checkpoint = shared_dir / "data" / "pretrained" / "keras_mobilenet_v1_0.25_224_imagenet.h5"
    if not checkpoint.is_file():
        pytest.skip(f"{checkpoint} is absent")
    out = tmp_path / "k.safetensors"
    assert main(["convert", str(checkpoint), "--model", "mobilenet_v1_025", "-o", str(out)]) == 0
    images = [str(shared_dir / "data" / "images" / name) for name in REFERENCE_TOP1]
    capsys.readouterr()
    assert main(["predict", str(out), *images, "--format", "json", "--top", "1"]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert {r["image"].rsplit("/", 1)[1]: r["top"][0]["class"] for r in results} == REFERENCE_TOP1


def test_predict_with_a_training_checkpoint(capsys, tmp_path):
    """``mobilenet train``'s checkpoints (best.pt, last.pt with optimizer and RNG states) and run folder
    are model sources of predict, read without unpickling code."""
    from PIL import Image

    from mobilenet.engine.config import resolve_config
    from mobilenet.engine.trainer import train

    config = resolve_config(None, data="digits", model="mobilenet_v3_small", width_mult=0.35, resolution=32,
                            max_images=64, epochs=1, batch_size=32, workers=0, progress=False, seed=0,
                            output=str(tmp_path), name="tiny")
    run = train(config).run_dir
    image = tmp_path / "digit.png"
    Image.new("L", (28, 28), 0).save(image)
    capsys.readouterr()
    assert main(["predict", str(run), str(image), "--format", "json", "--top", "2"]) == 0  # best.pt
    result = json.loads(capsys.readouterr().out)
    checkpoint = torch.load(run / "best.pt", map_location="cpu", weights_only=True)
    assert result["model"] == checkpoint["model_config"]
    assert {t["class"] for t in result["results"][0]["top"]} <= set(checkpoint["class_names"])
    assert main(["predict", str(run / "last.pt"), str(image)]) == 0
    # the old spelling still works, with a note
    assert main(["predict", str(image), "--checkpoint", str(run / "last.pt")]) == 0
    assert "deprecated" in capsys.readouterr().err
