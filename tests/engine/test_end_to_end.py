"""The commands end to end: train/eval on an image folder, fine-tuning real weights (the demo: tests/test_extras.py
without its export, tests/test_wheel.py with it)."""

from __future__ import annotations

import json

import pytest
import torch

from mobilenet.cli.main import main
from tests.data.helpers import write_digit_folder

TINY_FLAGS = ["--width-mult", "0.35", "--resolution", "32", "--workers", "0", "--no-progress"]


@pytest.mark.slow
def test_train_eval_resume_on_an_image_folder(tmp_path, capsys):
    folder = write_digit_folder(tmp_path / "digits", per_class=16)
    out = tmp_path / "runs"
    args = ["train", "--data", str(folder), "--epochs", "2", "--batch-size", "8", "--val-fraction", "0.25",
            "--output", str(out), "--name", "run", *TINY_FLAGS]
    assert main(args) == 0
    assert "best val top1" in capsys.readouterr().out
    assert main(["eval", "--checkpoint", str(out / "run"), "--data", str(folder), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 12 and [r["class"] for r in report["rows"]] == ["0", "1", "2"]
    # a finished run resumed with more epochs trains only the new ones
    assert main(["train", "--resume", str(out / "run"), "--epochs", "3", "--no-progress"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert len(lines) == 1 and lines[0].startswith("epoch   3/3")
    assert main(["train", "--recipe", "no-such-recipe"]) == 2
    assert "recipe 'no-such-recipe' not found" in capsys.readouterr().err


@pytest.mark.slow
def test_finetune_keras_weights_with_frozen_backbone_and_bn(tmp_path, shared_dir):
    from mobilenet.engine.config import resolve_config
    from mobilenet.engine.trainer import train
    from mobilenet import create_model

    weights = shared_dir / "data" / "pretrained" / "keras_mobilenet_v1_0.25_224_imagenet.h5"
    data = shared_dir / "data" / "classification" / "hymenoptera"
    config = resolve_config("finetune", data=str(data), model="mobilenet_v1_025", weights=str(weights),
                            resolution=96, epochs=1, max_images=32, batch_size=16, workers=0, progress=False,
                            output=str(tmp_path), name="ft")
    result = train(config)
    tuned = torch.load(result.run_dir / "last.pt", weights_only=False)["resume"]["model"]
    pretrained = create_model("mobilenet_v1_025", weights=str(weights)).state_dict()
    assert tuned["classifier.weight"].shape == (2, pretrained["classifier.weight"].shape[1])
    backbone = [k for k in pretrained if not k.startswith("classifier.") and "num_batches" not in k]
    assert backbone and all(torch.equal(tuned[k], pretrained[k]) for k in backbone)  # frozen epoch: untouched


@pytest.mark.slow
def test_ctrl_c_saves_and_exits_cleanly(tmp_path):
    """A real SIGINT to `mobilenet train`: last.pt with the resume state, exit 130, no traceback."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "runs"
    command = [sys.executable, "-m", "mobilenet", "train", "--epochs", "50", "--max-images", "256",
               "--batch-size", "32", "--output", str(out), "--name", "sigint", *TINY_FLAGS]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while not (out / "sigint" / "last.pt").exists() and time.time() < deadline:  # after epoch 1
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted at epoch" in stdout
    resume = torch.load(out / "sigint" / "last.pt", weights_only=False)["resume"]
    assert resume["step"] >= 8 and resume["epoch"] < 50
