"""Stopping a run: Ctrl-C and SIGTERM are honoured between steps, so a resumed run equals the
uninterrupted one bit for bit, as after kill -9 (issue 10). Run folders are never shared."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mobilenet.engine.run_folder import RunLock, create_run_dir
from mobilenet.engine.trainer import train
from tests.engine.helpers import TINY, tiny_config, weights_of

STATEFUL = dict(dropout=0.2, ema_decay=0.9, clip_grad=5.0, label_smoothing=0.1)
STEPS_PER_EPOCH = 192 // 32


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("interrupts")
    return out, train(tiny_config(out, "full", **STATEFUL))


def signal_during_forward(signum: int, step: int):
    """An ``on_step`` callback that sends ``signum`` to this process from inside the forward pass of
    step ``step + 1``: the signal lands mid-step, as a Ctrl-C at the keyboard may."""

    def on_step(trainer) -> None:
        if trainer.step == step:
            module = trainer.model.blocks[0]
            handle = None

            def hook(*_args) -> None:
                handle.remove()
                os.kill(os.getpid(), signum)

            handle = module.register_forward_hook(hook)

    return on_step


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_step_saves_after_the_step_and_resumes_exactly(uninterrupted, signum):
    out, full = uninterrupted
    name = f"stopped-{signum}"
    stopped = train(tiny_config(out, name, **STATEFUL), on_step=signal_during_forward(signum, STEPS_PER_EPOCH + 2))
    assert stopped.interrupted and stopped.signal == signum
    saved = torch.load(stopped.run_dir / "last.pt", weights_only=True)["resume"]
    assert saved["step"] == STEPS_PER_EPOCH + 3  # the interrupted step finished, then the run stopped
    resumed = train(resume=stopped.run_dir)
    full_weights, resumed_weights = weights_of(full.run_dir), weights_of(resumed.run_dir)
    assert all(torch.equal(full_weights[k], resumed_weights[k]) for k in full_weights)
    assert resumed.best_score == full.best_score
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers are put back


def _cli(out: Path, name: str, *extra: str) -> list[str]:
    flags = ["--data", "digits", "--model", TINY["model"], "--width-mult", str(TINY["width_mult"]),
             "--resolution", str(TINY["resolution"]), "--max-images", str(TINY["max_images"]),
             "--epochs", str(TINY["epochs"]), "--batch-size", str(TINY["batch_size"]), "--lr", str(TINY["lr"]),
             "--warmup-epochs", str(TINY["warmup_epochs"]), "--bn-momentum", str(TINY["bn_momentum"]),
             "--crop-scale", str(TINY["crop_scale"]), "--hflip", str(TINY["hflip"]), "--crop-pct", str(TINY["crop_pct"]),
             "--workers", "0", "--no-progress", "--seed", str(TINY["seed"]), "--dropout", "0.2", "--ema-decay", "0.9",
             "--clip-grad", "5.0", "--label-smoothing", "0.1"]
    return [sys.executable, "-m", "mobilenet", "train", *flags, "--output", str(out), "--name", name, *extra]


def _wait_for(path: Path, process: subprocess.Popen, seconds: float = 300.0) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGKILL, -signal.SIGKILL)])
def test_another_process_stopped_by_a_signal_resumes_exactly(uninterrupted, signum, code):
    """A real `mobilenet train` process stopped by SIGTERM (saves, exits 143) or SIGKILL (nothing saved
    at that moment: the periodic checkpoint is used), resumed here, ends with the uninterrupted weights."""
    out, full = uninterrupted
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    name = f"process-{signum}"
    process = subprocess.Popen(_cli(out, name, "--save-every-steps", "2"), env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    _wait_for(out / name / "last.pt", process)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr
    resumed = train(resume=out / name)
    full_weights, resumed_weights = weights_of(full.run_dir), weights_of(resumed.run_dir)
    assert all(torch.equal(full_weights[k], resumed_weights[k]) for k in full_weights)


def test_resume_keeps_the_runs_settings_and_says_what_changed(tmp_path, capsys):
    """`train --resume RUN` alone used to reset epochs to 10 and restart a finished run's schedule."""
    full = train(tiny_config(tmp_path, "finished", epochs=1, save_every_steps=3))
    before = weights_of(full.run_dir)
    done = train(resume=full.run_dir)  # finished: nothing to train, nothing reset
    assert done.best_score == full.best_score and done.last is None
    after = weights_of(full.run_dir)
    assert all(torch.equal(before[k], after[k]) for k in before)
    config = torch.load(full.run_dir / "last.pt", weights_only=True)["config"]
    assert config["epochs"] == 1 and config["save_every_steps"] == 3
    capsys.readouterr()
    with pytest.raises(ValueError, match="lr cannot change"):
        train(resume=full.run_dir, overrides={"lr": 0.5})
    more = train(resume=full.run_dir, overrides={"epochs": 2})
    assert "epochs 1 -> 2 (given explicitly)" in capsys.readouterr().err
    assert torch.load(more.run_dir / "last.pt", weights_only=True)["resume"]["epoch"] == 2


def test_run_folders_are_never_shared(tmp_path):
    first = create_run_dir(tmp_path, None, "model-data-20260101-000000")
    second = create_run_dir(tmp_path, None, "model-data-20260101-000000")  # the same second
    assert first != second and second.name.endswith("-2")
    (first / "best.pt").write_bytes(b"x")
    with pytest.raises(FileExistsError, match="already exists and is not empty"):
        create_run_dir(tmp_path, first.name, "unused")
    assert create_run_dir(tmp_path, first.name, "unused", exist_ok=True) == first
    lock = RunLock(first)
    lock.acquire()
    try:
        with pytest.raises(FileExistsError, match="being written by another process"):
            RunLock(first).acquire()
    finally:
        lock.release()
    RunLock(first).acquire()  # free again


def test_same_name_refused_from_the_command_line(uninterrupted, capsys):
    out, full = uninterrupted
    from mobilenet.cli.main import main

    assert main(["train", "--data", "digits", "--output", str(out), "--name", full.run_dir.name, "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists and is not empty" in err[0]


def test_concurrent_runs_get_their_own_folders(tmp_path):
    """Two processes with default names started at once (the same second) never share a folder."""
    code = ("import sys; from mobilenet.engine.run_folder import create_run_dir; "
            "print(create_run_dir(sys.argv[1], None, 'm-digits-20260101-000000'))")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    processes = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env)
                 for _ in range(4)]
    folders = [p.communicate(timeout=120)[0].strip() for p in processes]
    assert len(set(folders)) == 4 and all(Path(f).is_dir() for f in folders)
