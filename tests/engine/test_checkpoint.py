"""Checkpoints: atomic writes, self-describing contents, and clear errors for the wrong file."""

from __future__ import annotations

import pytest
import torch

import mobilenet
from mobilenet.cli.main import main
from mobilenet.weights.checkpoint import load_state_strict, model_from_checkpoint, read_checkpoint, save_atomic
from mobilenet.engine.trainer import train
from tests.engine.helpers import tiny_config


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt")
    return train(tiny_config(out, "run", epochs=1))


def test_checkpoint_rebuilds_the_model_with_classes_and_preprocessing(run):
    model, checkpoint = model_from_checkpoint(run.run_dir)  # a run folder means its best.pt
    assert checkpoint["class_names"] == [str(d) for d in range(10)]
    assert checkpoint["preprocessing"]["resolution"] == 32 and checkpoint["config"]["width_mult"] == 0.35
    assert model.num_classes == 10 and model.width_mult == 0.35
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(model(x), run.model.eval()(x), atol=1e-5)  # trained in channels-last: same up to rounding
    for name in ("config.yaml", "split.json", "metrics.csv", "curves.png", "confusion.png", "last.pt"):
        assert (run.run_dir / name).is_file(), name


def test_wrong_class_count_is_a_clear_error(run):
    state = torch.load(run.run_dir / "best.pt", weights_only=False)["state_dict"]
    model = mobilenet.create_model("mobilenet_v3_small", width_mult=0.35, num_classes=5)
    with pytest.raises(ValueError, match=r"has 10 classes but the model has 5.*num_classes=10"):
        load_state_strict(model, state, "checkpoint x")


def test_wrong_architecture_is_a_clear_error(run):
    state = torch.load(run.run_dir / "best.pt", weights_only=False)["state_dict"]
    model = mobilenet.create_model("mobilenet_v3_small", width_mult=0.5, num_classes=10)
    with pytest.raises(ValueError, match="shape mismatch.*different architecture, width"):
        load_state_strict(model, state, "checkpoint x")
    other = mobilenet.create_model("mobilenet_v2", width_mult=0.35, num_classes=10)
    with pytest.raises(ValueError, match="missing key.*unexpected key"):
        load_state_strict(other, state, "checkpoint x")


def test_not_a_checkpoint(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        read_checkpoint(junk)
    plain = tmp_path / "plain.pt"
    torch.save({"weight": torch.zeros(1)}, plain)
    with pytest.raises(ValueError, match="not a mobilenet training checkpoint"):
        read_checkpoint(plain)
    with pytest.raises(FileNotFoundError, match="not found"):
        read_checkpoint(tmp_path / "missing.pt")


def test_cli_turns_bad_checkpoints_into_one_line(tmp_path, capsys):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"garbage")
    assert main(["eval", str(junk), "--data", "digits"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot read" in err[0] and "junk.pt" in err[0]


def test_atomic_save_leaves_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "last.pt"
    save_atomic({"value": 1}, target)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        save_atomic({"value": Unpicklable()}, target)
    assert torch.load(target)["value"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temporary file left


def test_eval_cli_reports_the_same_accuracy_as_training(run, capsys):
    assert main(["eval", str(run.run_dir), "--format", "json"]) == 0
    import json

    report = json.loads(capsys.readouterr().out)
    best = torch.load(run.run_dir / "best.pt", weights_only=False)["metrics"]
    assert report["images"] == best["count"] and report["top1"] == pytest.approx(best["top1"])
    assert len(report["rows"]) == 10 and len(report["confusion"]) == 10
