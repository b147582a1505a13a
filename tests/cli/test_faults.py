"""Fault cases of issue 10: no code runs from a checkpoint, nothing is lost, and every user error is
one line and exit status 2 (never a traceback)."""

from __future__ import annotations

import errno
import json
import os
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
import torch
from PIL import Image

import mobilenet
from mobilenet.cli.main import main
from mobilenet.engine.trainer import train
from mobilenet.weights import format as our_format
from mobilenet.weights.checkpoint import FORMAT, model_from_checkpoint
from tests.data.helpers import write_digit_folder
from tests.engine.helpers import tiny_config

TINY_FLAGS = ["--width-mult", "0.35", "--resolution", "32", "--workers", "0", "--no-progress", "--batch-size", "8"]


def one_line_error(capsys, *needles: str, notes: str = "") -> str:
    """The one error line on stderr (``notes``: a prefix of informative lines that may precede it)."""
    captured = capsys.readouterr()
    lines = [line for line in captured.err.strip().splitlines() if not (notes and line.startswith(notes))]
    assert len(lines) == 1 and lines[0].startswith("mobilenet ") and "Traceback" not in captured.err, captured.err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# --- code from checkpoints ----------------------------------------------------------------------
class Payload:
    """Unpickling this runs code: it writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code ran"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("faults")
    return train(tiny_config(out, "run", epochs=1))


@pytest.fixture
def malicious(tmp_path, trained):
    """A run folder whose best.pt and last.pt look like ours but carry a code-running object."""
    marker = tmp_path / "pwned"
    run = tmp_path / "evil-run"
    run.mkdir()
    good = torch.load(trained.run_dir / "last.pt", weights_only=True)
    for name in ("best.pt", "last.pt"):
        torch.save({**good, "format": FORMAT, "extra": Payload(marker)}, run / name)
    return run, marker


@pytest.mark.parametrize("argv", [
    ["predict", "{run}", "{image}"],
    ["predict", "{run}/last.pt", "{image}"],
    ["eval", "{run}", "--data", "digits"],
    ["export", "{run}", "-o", "{tmp}/x.onnx"],
    ["bench", "{run}", "--runtime", "torch", "--runs", "1", "--warmup", "0"],
    ["train", "--resume", "{run}"],
    ["convert", "{run}/best.pt", "-o", "{tmp}/x.safetensors"],
])
def test_a_malicious_checkpoint_runs_no_code_on_any_path(argv, malicious, tmp_path, capsys):
    run, marker = malicious
    image = tmp_path / "digit.png"
    Image.new("L", (32, 32), 0).save(image)
    args = [a.format(run=run, image=image, tmp=tmp_path) for a in argv]
    assert main(args) == 2
    one_line_error(capsys, "not loaded because unpickling")
    assert not marker.exists()


def test_model_from_checkpoint_refuses_code(malicious):
    run, marker = malicious
    with pytest.raises(ValueError, match="could run code"):
        model_from_checkpoint(run)
    assert not marker.exists()


# --- silent nonsense ----------------------------------------------------------------------------
def test_one_class_folder_is_refused(tmp_path, capsys):
    folder = write_digit_folder(tmp_path / "one", classes=(3,), per_class=12)
    assert main(["train", "--data", str(folder), "--epochs", "1", "--output", str(tmp_path / "runs"), *TINY_FLAGS]) == 2
    one_line_error(capsys, "at least 2 classes")
    assert not list((tmp_path / "runs").glob("*")) if (tmp_path / "runs").exists() else True


def test_nan_learning_rate_is_refused(tmp_path, capsys):
    assert main(["train", "--lr", "nan", "--output", str(tmp_path), *TINY_FLAGS]) == 2
    one_line_error(capsys, "lr must be a finite number > 0")


def test_a_diverging_run_stops_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    config = tiny_config(tmp_path, "diverge", epochs=3, lr=1e30, warmup_epochs=0.0, clip_grad=None)
    with pytest.raises(ValueError, match="the loss became .*last good checkpoint was kept"):
        train(config)
    run = tmp_path / "diverge"
    for name in ("last.pt", "best.pt"):
        if (run / name).exists():
            state = torch.load(run / name, weights_only=True)["state_dict"]
            assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_unreadable_training_images_are_an_error_not_a_random_best_pt(tmp_path, capsys):
    root = tmp_path / "broken"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(10):
            (root / cls / f"{i}.jpg").write_text("not an image")
    assert main(["train", "--data", str(root), "--epochs", "1", "--output", str(tmp_path / "runs"), "--name", "x",
                 *TINY_FLAGS]) == 2
    one_line_error(capsys, "could be read")
    assert not (tmp_path / "runs" / "x").exists()  # a failed start leaves no folder


def test_eval_of_no_images_and_of_the_wrong_classes(trained, tmp_path, capsys):
    empty = tmp_path / "empty" / "0"
    empty.mkdir(parents=True)
    (empty / "x.jpg").write_text("not an image")
    assert main(["eval", str(trained.run_dir), "--data", str(tmp_path / "empty")]) == 2
    one_line_error(capsys, "no images were evaluated")
    two = write_digit_folder(tmp_path / "two", classes=(0, 1), per_class=12)
    two_class = train(tiny_config(tmp_path / "runs", "two", data=str(two), epochs=1, batch_size=8, val_fraction=0.25))
    assert main(["eval", str(two_class.run_dir), "--data", "digits"]) == 2
    one_line_error(capsys, "not the 10 digits")


def test_nan_weights_are_refused(tmp_path, capsys):
    model = mobilenet.create_model("mobilenet_v3_small_035", num_classes=3, resolution=32)
    path = our_format.save(model, tmp_path / "m.safetensors", class_names=["a", "b", "c"])
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(path))
    tensors["classifier.weight"] = torch.full_like(tensors["classifier.weight"], float("nan"))
    save_file(tensors, str(path), metadata=our_format.metadata(path))
    image = tmp_path / "x.png"
    Image.new("RGB", (40, 40)).save(image)
    assert main(["predict", str(path), str(image)]) == 2
    one_line_error(capsys, "non-finite outputs")
    with pytest.raises(ValueError, match="non-finite"):
        our_format.save(mobilenet.create_model(weights=str(path)), tmp_path / "again.safetensors")


# --- tracebacks turned into one line ------------------------------------------------------------
def decompression_bomb(path: Path, side: int = 40_000) -> Path:
    """A PNG header declaring side x side pixels (PIL refuses it at open, before decoding)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def test_a_bomb_or_a_fifo_among_images_is_skipped(tmp_path, capsys):
    good = tmp_path / "good.png"
    Image.new("RGB", (40, 40), (200, 10, 10)).save(good)
    bomb = decompression_bomb(tmp_path / "bomb.png")
    fifo = tmp_path / "fifo.jpg"
    os.mkfifo(fifo)
    assert main(["predict", "mobilenet_v3_small_035", str(bomb), str(fifo), str(good), "--format", "json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert [r["image"] for r in result["results"]] == [str(good)]
    reasons = {s["image"]: s["reason"] for s in result["skipped"]}
    assert "decompression bomb" in reasons[str(bomb)] and "not a regular file" in reasons[str(fifo)]


@pytest.mark.parametrize("text, message", [
    ("epochs: 3\nlr: [0.1\n", "is not valid YAML \\(line"),
    ("epochs: ten\n", "epochs in recipe .* must be a whole number, got 'ten'"),
    ("lr: '0.1'\n", "lr in recipe .* must be a number, got '0.1'"),
    ("model: 5\n", "model in recipe .* must be a string, got 5"),
    ("resolution: 64.5\n", "resolution in recipe .* must be a whole number, got 64.5"),
    ("epochs: 1.5\n", "epochs in recipe .* must be a whole number, got 1.5"),
])
def test_bad_recipes_name_the_field(text, message, tmp_path, capsys):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(text)
    assert main(["train", "--recipe", str(recipe), "--output", str(tmp_path)]) == 2
    import re

    line = one_line_error(capsys)
    assert re.search(message, line), line


def test_width_is_bounded_and_cost_needs_no_weights(capsys):
    assert main(["info", "mobilenet_v2", "--width-mult", "inf"]) == 2
    one_line_error(capsys, "width_mult must be a number in (0, 10]")
    assert main(["info", "mobilenet_v2", "--width-mult", "10", "--format", "json"]) == 0  # meta tensors: no memory
    assert json.loads(capsys.readouterr().out)["params"] > 100e6


@pytest.mark.parametrize("failure", [errno.ENOSPC, errno.EROFS])
def test_a_full_disk_or_read_only_destination_is_one_line_and_keeps_earlier_files(failure, trained, tmp_path,
                                                                                   monkeypatch, capsys):
    import mobilenet.files

    real_replace = os.replace

    def refuse(src, dst):
        raise OSError(failure, os.strerror(failure), str(dst))

    out = tmp_path / "m.safetensors"
    assert main(["convert", str(trained.run_dir / "best.pt"), "-o", str(out)]) == 0
    before = out.read_bytes()
    capsys.readouterr()
    monkeypatch.setattr(mobilenet.files.os, "replace", refuse)
    assert main(["convert", str(trained.run_dir / "best.pt"), "-o", str(out)]) == 2
    one_line_error(capsys, os.strerror(failure))
    assert main(["export", str(trained.run_dir), "-o", str(tmp_path / "m.onnx")]) == 2
    one_line_error(capsys, os.strerror(failure))
    checkpoint = (trained.run_dir / "last.pt").read_bytes()
    assert main(["train", "--resume", str(trained.run_dir), "--epochs", "2"]) == 2
    one_line_error(capsys, os.strerror(failure), notes="resume: epochs 1 -> 2")
    monkeypatch.setattr(mobilenet.files.os, "replace", real_replace)
    assert out.read_bytes() == before and (trained.run_dir / "last.pt").read_bytes() == checkpoint
    assert not [p for p in tmp_path.rglob(".*.tmp")] and not [p for p in trained.run_dir.glob(".*.tmp")]


def test_a_real_full_disk_where_a_tmpfs_can_be_mounted(trained, tmp_path, capsys):
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (not privileged); the mocked full disk above covers the error path")
    try:
        assert main(["export", str(trained.run_dir), "-o", str(mount / "m.onnx")]) == 2
        one_line_error(capsys, "No space left on device")
        assert list(mount.iterdir()) == []
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_eval_json_is_valid_when_images_are_skipped(trained, tmp_path, capsys):
    folder = write_digit_folder(tmp_path / "val", classes=tuple(range(10)), per_class=2)
    (folder / "3" / "broken.png").write_text("not an image")
    assert main(["eval", str(trained.run_dir), "--data", str(folder), "--format", "json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["images"] == 20 and "skipped 1 unreadable" in captured.err


# --- leftovers and old spellings ----------------------------------------------------------------
def test_leftover_temporary_files_of_dead_processes_are_removed(tmp_path):
    from mobilenet.files import atomic_path

    dead = _dead_pid()
    stale = tmp_path / f".m.onnx.{dead}.abc123.tmp"
    stale.write_bytes(b"x" * 1000)
    mine = tmp_path / f".m.onnx.{os.getpid()}.zzz.tmp"
    mine.write_bytes(b"y")
    with atomic_path(tmp_path / "m.onnx") as temp:
        temp.write_bytes(b"model")
    assert not stale.exists() and mine.exists() and (tmp_path / "m.onnx").read_bytes() == b"model"


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_old_spellings_work_with_a_deprecation_note(trained, tmp_path, capsys):
    image = tmp_path / "d.png"
    Image.new("L", (32, 32), 0).save(image)
    assert main(["predict", str(image), "--checkpoint", str(trained.run_dir), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["results"] and "--checkpoint is deprecated" in captured.err
    assert "--json is deprecated" in captured.err
    assert main(["eval", "--checkpoint", str(trained.run_dir)]) == 0
    assert "--checkpoint is deprecated" in capsys.readouterr().err
    assert main(["convert", str(trained.run_dir / "best.pt"), "--to", str(tmp_path / "m.safetensors")]) == 0
    assert "--to is deprecated" in capsys.readouterr().err


def test_metrics_csv_writes_integers_as_integers(trained):
    lines = (trained.run_dir / "metrics.csv").read_text().splitlines()
    header, row = lines[0].split(","), lines[1].split(",")
    assert row[header.index("epoch")] == "1" and row[header.index("step")].isdigit()
