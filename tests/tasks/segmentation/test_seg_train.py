"""Segmentation through the shared trainer and the commands: train (auxiliary loss, EMA), resume, eval
(mIoU, per-class IoU, the IoU chart), predict (colour mask and overlay), and two DDP processes that
train and evaluate as one."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from PIL import Image

from mobilenet.cli.main import main
from mobilenet.engine.config import resolve_config
from mobilenet.engine.distributed import cleanup
from mobilenet.engine.trainer import train

TINY = dict(model="lraspp_mobilenet_v3_small", width_mult=0.35, resolution=48, epochs=2, batch_size=4, lr=0.05,
            workers=0, progress=False, label_smoothing=0.0, bn_momentum=0.1, scale_min=0.75, scale_max=1.25, seed=1)


def tiny(pairs: Path, out: Path, name: str, **changes):
    return resolve_config(None, **{**TINY, "data": str(pairs), "output": str(out), "name": name, **changes})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from conftest import write_pairs

    root = tmp_path_factory.mktemp("segtrain")
    write_pairs(root / "data" / "train", 12, seed=1)
    write_pairs(root / "data" / "val", 6, seed=2)
    result = train(tiny(root / "data", root / "runs", "aux", aux_loss=0.5, ema_decay=0.9))
    return root, result


def test_training_writes_a_run_that_eval_and_predict_read(run, capsys) -> None:
    root, result = run
    assert result.primary == "miou" and result.last.count == 6 and 0.0 <= result.best_score <= 1.0
    log = (result.run_dir / "metrics.csv").read_text().splitlines()
    assert "val_miou" in log[0] and "train_pixel_acc" in log[0] and len(log) == 3
    checkpoint = torch.load(result.run_dir / "best.pt", weights_only=True)
    assert checkpoint["task"] == "segmentation" and checkpoint["model_config"]["aux_loss"]
    capsys.readouterr()
    assert main(["eval", str(result.run_dir), "--format", "json", "--plots", str(root / "plots")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 6 and report["miou"] == pytest.approx(result.last.metrics["miou"], abs=1e-6)
    assert (root / "plots" / "iou.png").is_file()
    image = root / "data" / "val" / "img000.png"
    assert main(["predict", str(result.run_dir), str(image), "-o", str(root / "pred"), "--format", "json"]) == 0
    predicted = json.loads(capsys.readouterr().out)["results"][0]
    assert {e["class"] for e in predicted["classes"]} <= {"background", "square", "bar"}
    assert sum(e["fraction"] for e in predicted["classes"]) == pytest.approx(1.0, abs=1e-3)
    mask = Image.open(root / "pred" / "img000_mask.png")
    assert mask.mode == "P" and mask.size == Image.open(image).size  # class indices at the photo's size
    assert set(np.unique(np.asarray(mask)).tolist()) == {e["index"] for e in predicted["classes"]}
    assert Image.open(root / "pred" / "img000.png").mode == "RGB"


def test_resume_continues_the_run(run) -> None:
    root, _ = run
    first = train(tiny(root / "data", root / "runs", "resume", epochs=1))
    resumed = train(resume=first.run_dir, overrides={"epochs": 2})
    assert len((resumed.run_dir / "metrics.csv").read_text().splitlines()) == 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, data: str, out: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    try:
        result = train(tiny(Path(data), Path(out), "ddp", epochs=1, aux_loss=0.5, sync_bn=True, dropout=0.0))
        torch.save(result.last.metrics, Path(out) / f"metrics{rank}.pt")
    finally:
        cleanup()


def test_two_ddp_processes_train_and_evaluate_as_one(run) -> None:
    """Every parameter (the auxiliary head's too) gets its gradient, so DDP needs no
    find_unused_parameters; the confusion matrices of both processes are summed. (No dropout: its
    random masks are drawn per process.)"""
    root, _ = run
    single = train(tiny(root / "data", root / "ddp", "single", epochs=1, aux_loss=0.5, sync_bn=True, dropout=0.0))
    mp.spawn(_worker, args=(2, _free_port(), str(root / "data"), str(root / "ddp")), nprocs=2, join=True)
    weights = [torch.load(d / "last.pt", weights_only=True)["resume"]["model"] for d in (single.run_dir, root / "ddp" / "ddp")]
    # float re-association only: measured 4e-4 (a per-process mean loss, which weighs the processes'
    # labelled pixels unequally, gives 0.2)
    assert max(float((weights[0][k].double() - weights[1][k].double()).abs().max()) for k in weights[0]) < 2e-3
    metrics = torch.load(root / "ddp" / "metrics0.pt")
    assert metrics == pytest.approx(single.last.metrics, rel=1e-4, abs=1e-5)
