"""Two processes under DDP (gloo, CPU) train the same weights as one process with the same global
batch: the sampler shards each global batch, augmentation is seeded per sample, DDP averages the
gradients, and synchronised batch norm normalises over the global batch.

"Equal" means up to float re-association (the two runs sum the same numbers in another order).
That error grows with each step, fastest through BN channels of near-zero variance, so the run is
kept short: 96 digits, 3 steps per epoch, 2 epochs; measured difference ~2e-5 against ~1e-1 weight
scales, while per-process BN statistics (no sync) differ at the first step by ~1e-1.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from mobilenet.engine.distributed import cleanup
from mobilenet.engine.trainer import train
from tests.engine.helpers import max_difference, tiny_config, weights_of

SETTINGS = dict(batch_size=32, epochs=2, max_images=96, sync_bn=True, dropout=0.0, ema_decay=0.9, clip_grad=5.0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, out: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    try:
        result = train(tiny_config(Path(out), "ddp", **SETTINGS))
        torch.save({"best_top1": result.best_score, "top1": result.last.metrics["top1"], "count": result.last.count},
                   Path(out) / f"result{rank}.pt")
    finally:
        cleanup()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    single = train(tiny_config(out, "single", **SETTINGS))
    mp.spawn(_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    return out, single


def test_two_processes_equal_one_process(runs):
    out, single = runs
    difference = max_difference(weights_of(single.run_dir), weights_of(out / "ddp"))
    assert difference < 1e-4, difference


def test_evaluation_is_gathered_over_both_processes(runs):
    out, single = runs
    for rank in (0, 1):
        result = torch.load(out / f"result{rank}.pt")
        assert result["count"] == single.last.count == 96  # every val image once, none twice
        assert abs(result["top1"] - single.last.metrics["top1"]) <= 1 / 96


def test_only_rank_zero_writes(runs):
    out, _ = runs
    names = sorted(p.name for p in (out / "ddp").iterdir())
    assert names.count("last.pt") == 1 and "metrics.csv" in names
    rows = (out / "ddp" / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + SETTINGS["epochs"]  # header + one row per epoch, not one per process


def test_without_sync_bn_the_runs_differ(tmp_path):
    """The equality needs synchronised BN: per-process statistics over half batches do differ,
    which shows the comparison above can fail."""
    from mobilenet.engine.distributed import DistributedBatchNorm2d

    torch.manual_seed(0)
    x = torch.randn(8, 4, 5, 5)
    plain = torch.nn.BatchNorm2d(4).train()
    full = plain(x)
    halves = torch.cat([plain(x[:4]), plain(x[4:])])
    assert (full - halves).abs().max() > 1e-3
    assert torch.allclose(DistributedBatchNorm2d(4).train()(x), full, atol=1e-5)  # no process group: plain BN
