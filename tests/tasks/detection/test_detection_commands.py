"""Detectors through the shared commands: train (and resume), eval, predict with drawn boxes, export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mobilenet.cli.main import main

TINY = ["--model", "ssdlite_mobilenet_v3_small", "--width-mult", "0.35", "--resolution", "96", "--workers", "0",
        "--no-progress", "--batch-size", "4", "--lr", "0.05", "--no-freeze-bn"]


def squares(root: Path, count: int = 8, seed: int = 0) -> Path:
    """A YOLO set of red and blue squares on grey noise: ``root/data.yaml``, train and val splits."""
    rng = np.random.default_rng(seed)
    for split in ("train", "val"):
        (root / split / "images").mkdir(parents=True)
        (root / split / "labels").mkdir(parents=True)
        for i in range(count):
            pixels = rng.integers(90, 140, (80, 100, 3)).astype(np.uint8)
            lines = []
            for _ in range(1 + i % 2):
                cls = int(rng.integers(2))
                w, h = rng.integers(20, 40, 2)
                x, y = rng.integers(0, 100 - w), rng.integers(0, 80 - h)
                pixels[y:y + h, x:x + w] = (220, 30, 30) if cls == 0 else (30, 30, 220)
                lines.append(f"{cls} {(x + w / 2) / 100} {(y + h / 2) / 80} {w / 100} {h / 80}")
            Image.fromarray(pixels).save(root / split / "images" / f"{i}.jpg")
            (root / split / "labels" / f"{i}.txt").write_text("\n".join(lines) + "\n")
    (root / "data.yaml").write_text("train: train/images\nval: val/images\nnames: [red, blue]\n")
    return root


@pytest.mark.slow
def test_train_resume_eval_predict_on_a_yolo_set(tmp_path: Path, capsys) -> None:
    data = squares(tmp_path / "squares")
    out = tmp_path / "runs"
    assert main(["train", "--recipe", "detection", "--data", str(data / "data.yaml"), "--epochs", "1",
                 "--output", str(out), "--name", "run", *TINY]) == 0
    printed = capsys.readouterr().out
    assert "best val map" in printed and "(8 train / 8 val images, 2 classes, detection" in printed
    run = out / "run"
    assert {"best.pt", "last.pt", "metrics.csv", "pr_curves.png", "per_class_ap.png"} <= {p.name for p in run.iterdir()}
    header = (run / "metrics.csv").read_text().splitlines()[0]
    assert "val_map" in header and "train_box_loss" in header
    assert main(["train", "--resume", str(run), "--epochs", "2", "--no-progress"]) == 0
    assert [line[:12] for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")] == ["epoch   2/2 "]

    assert main(["eval", str(run), "--format", "json", "--plots", str(tmp_path / "plots")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 8 and {"map", "ap50", "ap75", "loss"} <= set(report)
    assert [row["class"] for row in report["rows"]] == ["red", "blue"]
    assert (tmp_path / "plots" / "pr_curves.png").is_file()

    image = data / "val" / "images" / "0.jpg"
    assert main(["predict", str(run), str(image), "--threshold", "0.0", "--format", "json",
                 "-o", str(tmp_path / "drawn")]) == 0
    result = json.loads(capsys.readouterr().out)["results"][0]
    assert result["image"] == str(image) and result["detections"]
    first = result["detections"][0]
    assert first["class"] in ("red", "blue") and len(first["box"]) == 4
    assert all(0 <= v <= s for v, s in zip(first["box"], (100, 80, 100, 80)))
    assert Image.open(tmp_path / "drawn" / "0.png").size == (100, 80)


def test_bad_annotations_fail_the_command_in_one_line(tmp_path: Path, capsys) -> None:
    data = squares(tmp_path / "squares", count=2)
    (data / "train" / "labels" / "0.txt").write_text("5 0.5 0.5 0.2 0.2\n")
    assert main(["train", "--data", str(data), "--epochs", "1", "--output", str(tmp_path / "runs"), *TINY]) == 2
    err = capsys.readouterr().err
    assert "class index 5 is not among the 2 names (0..1: red, blue)" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()      # nothing was started or written
