"""Segmentation through the shared trainer and the commands: train (auxiliary loss, EMA), resume, eval
(mIoU, per-class IoU, the IoU chart), predict (colour mask and overlay), and two DDP processes that
train and evaluate as one."""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from PIL import Image

from tests.tasks.segmentation.helpers import write_pairs

from mobilenet.cli.main import main
from mobilenet.engine.config import resolve_config
from mobilenet.engine.distributed import cleanup
from mobilenet.engine.trainer import train
from mobilenet.export.images import load_images

TINY = dict(model="lraspp_mobilenet_v3_small", width_mult=0.35, resolution=48, epochs=2, batch_size=4, lr=0.05,
            workers=0, progress=False, label_smoothing=0.0, bn_momentum=0.1, scale_min=0.75, scale_max=1.25, seed=1)


def tiny(pairs: Path, out: Path, name: str, **changes):
    return resolve_config(None, **{**TINY, "data": str(pairs), "output": str(out), "name": name, **changes})


ONE_EPOCH = dict(epochs=1, aux_loss=0.5, sync_bn=True, dropout=0.0)
"""The module's run, which the two DDP processes repeat (no dropout: its masks are drawn per process)."""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("segtrain")
    write_pairs(root / "data" / "train", 12, seed=1)
    write_pairs(root / "data" / "val", 6, seed=2)
    result = train(tiny(root / "data", root / "runs", "aux", ema_decay=0.9, **ONE_EPOCH))
    return root, result


def test_training_writes_a_run_that_eval_and_predict_read(run, capsys) -> None:
    root, result = run
    assert result.primary == "miou" and result.last.count == 6 and 0.0 <= result.best_score <= 1.0
    log = (result.run_dir / "metrics.csv").read_text().splitlines()
    assert "val_miou" in log[0] and "train_pixel_acc" in log[0] and len(log) == 2
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
    root, result = run
    copy = shutil.copytree(result.run_dir, root / "resumed")  # the module's run stays as it is
    resumed = train(resume=copy, overrides={"epochs": 2})
    assert resumed.run_dir == copy and len((copy / "metrics.csv").read_text().splitlines()) == 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, data: str, out: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    try:
        result = train(tiny(Path(data), Path(out), "ddp", ema_decay=0.9, **ONE_EPOCH))
        torch.save(result.last.metrics, Path(out) / f"metrics{rank}.pt")
    finally:
        cleanup()


def test_two_ddp_processes_train_and_evaluate_as_one(run) -> None:
    """Every parameter (the auxiliary head's too) gets its gradient, so DDP needs no
    find_unused_parameters; the confusion matrices of both processes are summed."""
    root, single = run
    mp.spawn(_worker, args=(2, _free_port(), str(root / "data"), str(root / "ddp")), nprocs=2, join=True)
    weights = [torch.load(d / "last.pt", weights_only=True)["resume"]["model"] for d in (single.run_dir, root / "ddp" / "ddp")]
    # float re-association only: measured 4e-4 (a per-process mean loss, which weighs the processes'
    # labelled pixels unequally, gives 0.2)
    assert max(float((weights[0][k].double() - weights[1][k].double()).abs().max()) for k in weights[0]) < 2e-3
    metrics = torch.load(root / "ddp" / "metrics0.pt")
    assert metrics == pytest.approx(single.last.metrics, rel=1e-4, abs=1e-5)


def test_exported_files_evaluate_like_the_model(run, capsys) -> None:
    """``mobilenet eval`` of the file with the arg-max inside gives PyTorch's mIoU (labels, no loss);
    the INT8 file, calibrated on the training photos, evaluates the same way and close to it."""
    from mobilenet.export.onnx import export_onnx
    from mobilenet.export.onnxruntime.quantize import quantize_source
    from mobilenet.sources import open_source

    root, result = run
    source = open_source(str(result.run_dir / "best.pt"))
    photos = [load_images([p], source.preprocessing).numpy() for p in sorted((root / "data" / "train").glob("img*"))
              if not p.stem.endswith("_mask")]
    export_onnx(source, root / "seg.onnx", exporter="torchscript", postprocess=True)
    quantize_source(source, root / "seg.int8.onnx", photos, exporter="torchscript", postprocess=True)
    scores = {}
    for name in ("seg.onnx", "seg.int8.onnx"):
        capsys.readouterr()
        assert main(["eval", str(root / name), "--data", str(root / "data" / "val"), "--format", "json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["images"] == 6
        scores[name] = report["miou"]
    assert scores["seg.onnx"] == pytest.approx(result.last.metrics["miou"], abs=1e-6)  # best.pt is the last epoch
    assert abs(scores["seg.int8.onnx"] - result.last.metrics["miou"]) < 0.05
