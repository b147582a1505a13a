"""A run stopped mid-epoch and resumed ends with exactly the weights of an uninterrupted run."""

from __future__ import annotations

import pytest
import torch

from mobilenet.engine.trainer import Interrupted, train
from tests.engine.helpers import tiny_config, weights_of

# Everything that draws random numbers or keeps state: augmentation, dropout, EMA, momentum,
# warm-up + cosine schedule, label smoothing, gradient clipping.
STATEFUL = dict(dropout=0.2, ema_decay=0.9, clip_grad=5.0, label_smoothing=0.1)


def stop_at(step: int):
    def on_step(trainer) -> None:
        if trainer.step == step:
            raise Interrupted

    return on_step


class Killed(Exception):
    """Stands for SIGKILL: the trainer does not catch it, so nothing is saved at that point."""


def kill_at(step: int):
    def on_step(trainer) -> None:
        if trainer.step == step:
            raise Killed

    return on_step


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("resume")
    result = train(tiny_config(out, "full", **STATEFUL))
    return out, result


def test_ctrl_c_mid_epoch_then_resume_equals_uninterrupted(uninterrupted):
    out, full = uninterrupted
    steps_per_epoch = 192 // 32
    stopped = train(tiny_config(out, "stopped", **STATEFUL), on_step=stop_at(steps_per_epoch + 4))
    assert stopped.interrupted
    assert torch.load(stopped.run_dir / "last.pt", weights_only=False)["resume"]["epoch"] == 1  # mid-epoch 2
    resumed = train(resume=stopped.run_dir)
    assert resumed.run_dir == stopped.run_dir and not resumed.interrupted
    full_weights, resumed_weights = weights_of(full.run_dir), weights_of(resumed.run_dir)
    for key in full_weights:
        assert torch.equal(full_weights[key], resumed_weights[key]), key
    ema_full = torch.load(full.run_dir / "last.pt", weights_only=False)["state_dict"]
    ema_resumed = torch.load(resumed.run_dir / "last.pt", weights_only=False)["state_dict"]
    assert all(torch.equal(ema_full[k], ema_resumed[k]) for k in ema_full)
    assert resumed.best_score == full.best_score


def test_hard_kill_resumes_from_the_periodic_checkpoint(uninterrupted):
    out, full = uninterrupted
    config = tiny_config(out, "killed", save_every_steps=4, **STATEFUL)
    with pytest.raises(Killed):
        train(config, on_step=kill_at(11))  # killed 3 steps after the step-8 checkpoint, in epoch 2
    saved = torch.load(out / "killed" / "last.pt", weights_only=False)["resume"]
    assert (saved["epoch"], saved["step"], saved["consumed"]) == (1, 8, 2 * 32)
    resumed = train(resume=out / "killed" / "last.pt")
    full_weights, resumed_weights = weights_of(full.run_dir), weights_of(resumed.run_dir)
    assert all(torch.equal(full_weights[k], resumed_weights[k]) for k in full_weights)


def test_a_different_seed_gives_different_weights(uninterrupted):
    """The equality above is not vacuous: the weights do depend on the run's randomness."""
    out, full = uninterrupted
    other = train(tiny_config(out, "other-seed", epochs=1, seed=4, **STATEFUL))
    first_epoch = train(tiny_config(out, "same-seed", epochs=1, **STATEFUL))
    a, b = weights_of(other.run_dir), weights_of(first_epoch.run_dir)
    assert any(not torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point())


def test_resume_needs_the_resume_record(uninterrupted):
    out, full = uninterrupted
    with pytest.raises(ValueError, match="no resume state"):
        train(resume=full.run_dir / "best.pt")
