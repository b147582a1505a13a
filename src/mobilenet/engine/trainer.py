"""The training loop: ``train(config)`` from Python, ``mobilenet train`` from the shell, for every task.

One epoch = the seeded, sharded sampler's batches; after each epoch the model (or its EMA) is
evaluated by the task and ``last.pt`` (+ ``best.pt`` when the task's primary metric improves) are
written atomically. What differs between classification, detection and segmentation (data,
loss, metrics, plots) is the task object's (``mobilenet.tasks``); the loop never asks which task.

A run can be stopped at any step and resumed exactly: Ctrl-C and SIGTERM only set a flag, and the
loop saves between steps; ``save_every_steps`` also covers a hard kill. Weights, optimiser,
scheduler, EMA, epoch, step, sampler position and RNG states are in ``last.pt``, and every
sample's augmentation depends only on (seed, epoch, index). A resumed run takes every setting
from the run; only ``RESUME_OVERRIDABLE`` ones may be changed, and the run says so.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from mobilenet.data.pipeline import AugmentedDataset, EpochSampler, collate, default_workers, make_loader
from mobilenet.engine import builders
from mobilenet.engine.config import TrainConfig, save_config
from mobilenet.engine.distributed import (DistContext, all_reduce_mean, broadcast_object, cleanup,
                                          convert_sync_batchnorm, setup)
from mobilenet.engine.evaluate import evaluate
from mobilenet.engine.optim import build_optimizer, build_scheduler
from mobilenet.engine.report import RunLog, load_plotting, plot_curves
from mobilenet.engine.run_folder import LOCK_NAME, RunLock, create_run_dir, default_name
from mobilenet.tasks import task_of
from mobilenet.tasks.base import EvalResult
from mobilenet.weights.checkpoint import FORMAT, read_checkpoint, save_atomic

# Settings a resumed run may change; all others come from the checkpoint so the run stays exact.
RESUME_OVERRIDABLE = ("epochs", "progress", "workers", "device", "save_every_steps")
STOP_SIGNALS = {signal.SIGINT: "Ctrl-C (SIGINT)", signal.SIGTERM: "SIGTERM"}


@dataclass
class TrainResult:
    run_dir: Path
    best_score: float
    """The best value of the task's primary metric (``primary``) on the validation set."""
    primary: str
    last: EvalResult | None
    model: nn.Module          # the evaluation weights (EMA when enabled)
    interrupted: bool = False
    is_main: bool = True      # rank 0 (the process that writes and reports)
    signal: int | None = None  # the signal that stopped the run, if one did


class Interrupted(Exception):
    """Raised by a step callback to stop like Ctrl-C does (tests)."""


class Diverged(ValueError):
    """The loss became NaN or infinite: the run stopped and kept its last good checkpoint."""


def rng_state() -> dict[str, Any]:
    """Every random stream, as tensors and plain data (a checkpoint loads with ``weights_only``)."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(), "python": random.getstate(),
            "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss],
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    kind, keys, position, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), position, has_gauss, gauss))
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resumed_config(checkpoint: dict[str, Any], overrides: dict[str, Any] | None) -> TrainConfig:
    """The run's own settings, with the explicitly given overridable ones changed (and reported)."""
    saved = TrainConfig(**checkpoint["config"])
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    fixed = sorted(k for k in overrides if k not in RESUME_OVERRIDABLE and overrides[k] != getattr(saved, k))
    if fixed:
        raise ValueError(f"a resumed run keeps its settings; {', '.join(fixed)} cannot change (only "
                         f"{', '.join(RESUME_OVERRIDABLE)} can); start a new run to change them")
    changed = {k: v for k, v in overrides.items() if k in RESUME_OVERRIDABLE and v != getattr(saved, k)}
    for key, value in changed.items():
        print(f"resume: {key} {getattr(saved, key)!r} -> {value!r} (given explicitly)", file=sys.stderr)
        setattr(saved, key, value)
    return saved


class Trainer:
    def __init__(self, config: TrainConfig | None = None, resume: str | Path | None = None,
                 on_step: Callable[["Trainer"], None] | None = None,
                 overrides: dict[str, Any] | None = None) -> None:
        checkpoint = read_checkpoint(resume, "last.pt") if resume else None
        if checkpoint is not None:
            if "resume" not in checkpoint:
                raise ValueError(f"{checkpoint['path']!r} has no resume state (best.pt keeps only weights); "
                                 "resume from the run folder or its last.pt")
            config = resumed_config(checkpoint, overrides)
        elif config is None:
            raise ValueError("train needs a config (or a run to resume)")
        self.config, self.on_step = config, on_step
        self.task = task_of(config.model)
        self.ctx: DistContext = setup(config.device)
        self.lock: RunLock | None = None
        existing = Path(checkpoint["path"]).parent if checkpoint else None
        if existing is not None and self.ctx.is_main:
            self.lock = RunLock(existing)
            self.lock.acquire()
        seed_everything(config.seed)

        data = self.task.build_datasets(config, existing)
        self.train_base, self.val_base, self.class_names = data.train, data.val, data.class_names
        if len(self.class_names) < 2 and self.task.name == "classification":
            raise ValueError(f"the data has {len(self.class_names)} class ({', '.join(self.class_names)}); a "
                             "classifier needs at least 2 classes")
        self.model = builders.build_model(config, self.class_names)
        self.preprocessing = self.task.preprocessing(self.model, config)
        if config.sync_bn and self.ctx.distributed:
            self.model = convert_sync_batchnorm(self.model, self.ctx.device)
        self.model.to(self.ctx.device)
        if config.channels_last:
            self.model.to(memory_format=torch.channels_last)

        world = self.ctx.world_size
        if config.batch_size % world:
            raise ValueError(f"batch_size {config.batch_size} must divide evenly among {world} processes")
        self.local_batch = config.batch_size // world
        if len(data.train) < config.batch_size:
            raise ValueError(f"the training set has {len(data.train)} images, fewer than one batch of "
                             f"{config.batch_size}; lower the batch size")
        in_memory = bool(getattr(data.train, "in_memory", False))
        workers = default_workers(in_memory, world) if config.workers < 0 else config.workers
        self.train_sampler = EpochSampler(len(data.train), True, config.seed, self.ctx.rank, world)
        self.val_sampler = EpochSampler(len(data.val), False, config.seed, self.ctx.rank, world, pad=False)
        collate_fn = collate if self.task.stack_targets else _list_collate
        self.train_loader = make_loader(AugmentedDataset(data.train, self.task.train_transform(self.preprocessing, config)),
                                        self.train_sampler, self.local_batch, workers, drop_last=True,
                                        pin_memory=self.ctx.device.type == "cuda", collate_fn=collate_fn)
        self.val_loader = make_loader(AugmentedDataset(data.val, self.task.eval_transform(self.preprocessing)),
                                      self.val_sampler, self.local_batch, workers, drop_last=False,
                                      collate_fn=collate_fn)
        self.steps_per_epoch = len(self.train_sampler) // self.local_batch

        self.ddp = (DistributedDataParallel(self.model, device_ids=[self.ctx.local_rank]
                                            if self.ctx.device.type == "cuda" else None)
                    if self.ctx.distributed else self.model)
        frozen_steps = config.freeze_epochs * self.steps_per_epoch if config.weights else 0
        self.optimizer = build_optimizer(self.model, config, frozen_steps)
        self.scheduler = build_scheduler(self.optimizer, self.steps_per_epoch, config)
        self.ema = builders.build_ema(self.model, config.ema_decay)
        self.autocast, needs_scaler = builders.autocast_factory(config.amp, self.ctx.device)
        self.scaler = torch.amp.GradScaler(self.ctx.device.type) if needs_scaler else None

        self.epoch, self.step, self.consumed = 0, 0, 0
        self.epoch_stats = self._zero_stats()
        self.best_score, self.skipped_warned = -math.inf, False
        self.skipped_train: set[int] = set()
        self.stop_signal: int | None = None
        self.plotting = False  # rank 0 with matplotlib installed draws the run's plots
        if checkpoint is not None:
            self.run_dir = Path(checkpoint["path"]).parent
            self._restore(checkpoint)
        else:
            self.run_dir = self._new_run_dir(data.split)
        self.created_run_dir = checkpoint is None
        self.log = RunLog(self.run_dir, self.log_columns(), enabled=self.ctx.is_main)

    def _new_run_dir(self, split: dict[str, Any]) -> Path:
        """Create (rank 0), lock and fill the new run folder; the other ranks learn its name."""
        run_dir = None
        if self.ctx.is_main:
            config = self.config
            data = Path(config.data).name if config.data not in (None, "", "digits") else "digits"
            run_dir = create_run_dir(config.output, config.name, default_name(config.model, data), config.exist_ok)
            self.lock = RunLock(run_dir)
            self.lock.acquire()
            save_config(config, run_dir / "config.yaml")
            (run_dir / "split.json").write_text(json.dumps(split))
        return Path(broadcast_object(str(run_dir) if run_dir else None, self.ctx))

    def log_columns(self) -> tuple[str, ...]:
        return ("epoch", "step", "lr", "train_loss", *(f"train_{s}" for s in self.task.train_stats),
                *(f"val_{m}" for m in self.task.metric_names), "images_per_s", "epoch_s")

    def _zero_stats(self) -> dict[str, float]:
        return {"loss": 0.0, "seen": 0.0, **{s: 0.0 for s in self.task.train_stats}}

    # --- state -------------------------------------------------------------------------------
    def eval_model(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.model

    def checkpoint(self, metrics: dict[str, float] | None, with_resume: bool) -> dict[str, Any]:
        record: dict[str, Any] = {
            "format": FORMAT, "model_config": self.model.config.to_dict(), "class_names": self.class_names,
            "preprocessing": self.preprocessing.to_dict(), "config": self.config.to_dict(), "epoch": self.epoch,
            "step": self.step, "metrics": metrics or {}, "task": self.task.name,
            "state_dict": {k: v.detach().cpu() for k, v in self.eval_model().state_dict().items()},
        }
        if with_resume:
            record["resume"] = {
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "ema": self.ema.state_dict() if self.ema else None,
                "scaler": self.scaler.state_dict() if self.scaler else None, "rng": rng_state(),
                "epoch": self.epoch, "step": self.step, "consumed": self.consumed,
                "epoch_stats": dict(self.epoch_stats), "best_score": self.best_score,
                "world_size": self.ctx.world_size,
            }
        return record

    def save(self, name: str = "last.pt", metrics: dict[str, float] | None = None, with_resume: bool = True) -> None:
        if self.ctx.is_main:
            save_atomic(self.checkpoint(metrics, with_resume), self.run_dir / name)

    def _restore(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["resume"]
        if state["world_size"] != self.ctx.world_size:
            raise ValueError(f"the run was trained with {state['world_size']} process(es); resume it with the "
                             f"same number (now {self.ctx.world_size}) to continue exactly")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.ema is not None and state["ema"] is not None:
            self.ema.load_state_dict(state["ema"])
        if self.scaler is not None and state["scaler"] is not None:
            self.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        self.epoch, self.step, self.consumed = state["epoch"], state["step"], state["consumed"]
        self.epoch_stats, self.best_score = dict(state["epoch_stats"]), state["best_score"]

    # --- loop --------------------------------------------------------------------------------
    def train_step(self, batch: dict[str, Any]) -> None:
        images = batch["images"].to(self.ctx.device, non_blocking=True)
        targets = self.task.targets_to(batch["targets"], self.ctx.device)
        if self.config.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with self.autocast():
            outputs = self.ddp(images)
            loss, stats = self.task.loss(self.model, outputs, targets, self.config)
        if not torch.isfinite(loss.detach()):
            raise Diverged(f"the loss became {float(loss.detach()):.4g} at epoch {self.epoch + 1}, step {self.step + 1}; "
                           f"training stopped and the last good checkpoint was kept ({self.run_dir / 'last.pt'}); "
                           "lower the learning rate or clip gradients")
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        if self.config.clip_grad:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_grad)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        self.step += 1
        n = len(images)
        self.consumed += len(batch["skipped"]) + n
        self.epoch_stats["loss"] += float(loss.detach()) * n
        self.epoch_stats["seen"] += n
        for key, value in stats.items():
            self.epoch_stats[key] += value

    def set_frozen_bn(self) -> None:
        """Pretrained BN statistics stay fixed while the backbone is frozen, and for the whole run
        with ``freeze_bn`` (Keras' fine-tuning advice: small batches of a new domain give noisy
        batch statistics that the running averages then disagree with at evaluation)."""
        frozen = bool(self.config.weights) and (self.config.freeze_bn or self.epoch < self.config.freeze_epochs)
        heads = tuple(self.model.head_prefixes)
        for name, module in self.model.named_modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and not name.startswith(heads):
                module.train(not frozen)

    def _postfix(self, images: int, started: float) -> dict[str, str]:
        seen = max(self.epoch_stats["seen"], 1)
        shown = {"loss": f"{self.epoch_stats['loss'] / seen:.3f}"}
        shown.update({s: f"{self.epoch_stats[s] / seen:.3f}" for s in self.task.train_stats})
        shown["img_s"] = f"{images / max(time.perf_counter() - started, 1e-9):.0f}"
        return shown

    def train_epoch(self) -> float:
        self.model.train()
        self.set_frozen_bn()
        self.train_sampler.set_position(self.epoch, self.consumed)
        steps_left = self.steps_per_epoch - self.consumed // self.local_batch
        bar = tqdm(total=self.steps_per_epoch, initial=self.steps_per_epoch - steps_left, leave=False,
                   desc=f"epoch {self.epoch + 1}/{self.config.epochs}", unit="step", file=sys.stderr,
                   disable=not (self.config.progress and self.ctx.is_main), dynamic_ncols=True)
        started, images = time.perf_counter(), 0
        try:
            for batch in self.train_loader:
                self.skipped_train.update(batch["skipped"])
                if batch["images"] is None:
                    self.consumed += len(batch["skipped"])
                    continue
                self.train_step(batch)
                images += len(batch["images"]) * self.ctx.world_size
                bar.set_postfix(self._postfix(images, started), refresh=False)
                bar.update(1)
                if self.config.save_every_steps and self.step % self.config.save_every_steps == 0:
                    self.save()
                if self.on_step is not None:
                    self.on_step(self)
                if self.stop_signal is not None:
                    raise Interrupted
        finally:
            bar.close()
        if self.epoch_stats["seen"] == 0:
            raise ValueError(f"no training image of {self.config.data!r} could be read in epoch {self.epoch + 1} "
                             f"({len(self.skipped_train)} skipped); nothing was trained or saved")
        return images / max(time.perf_counter() - started, 1e-9)

    def warn_skipped(self, val_skipped: list[int]) -> None:
        if self.skipped_warned or not (self.skipped_train or val_skipped):
            return
        names = [self.train_base.describe(i) for i in sorted(self.skipped_train)]
        names += [self.val_base.describe(i) for i in val_skipped]
        warnings.warn(f"skipped {len(names)} unreadable or truncated image(s) "
                      f"({len(self.skipped_train)} train, {len(val_skipped)} val); first: {names[0]}", stacklevel=2)
        self.skipped_warned = True

    def end_epoch(self, images_per_s: float, seconds: float) -> EvalResult:
        result = evaluate(self.task, self.eval_model(), self.val_loader, self.class_names, self.ctx,
                          self.config.channels_last, self.autocast)
        if self.ctx.is_main:
            self.warn_skipped(result.skipped)
        seen = max(self.epoch_stats["seen"], 1)
        row: dict[str, Any] = {"epoch": self.epoch + 1, "step": self.step, "lr": self.optimizer.param_groups[0]["lr"],
                               "train_loss": all_reduce_mean(self.epoch_stats["loss"] / seen, self.ctx)}
        for stat in self.task.train_stats:
            row[f"train_{stat}"] = all_reduce_mean(self.epoch_stats[stat] / seen, self.ctx)
        row.update({f"val_{m}": result.metrics[m] for m in self.task.metric_names})
        row.update(images_per_s=images_per_s, epoch_s=seconds)
        self.epoch += 1
        self.consumed = 0
        self.epoch_stats = self._zero_stats()
        improved = result.score > self.best_score
        self.best_score = max(self.best_score, result.score)
        if self.ctx.is_main:
            self.log.append(row)
            train_part = "  ".join(f"{k.removeprefix('train_')} {row[k]:.4f}" for k in row if k.startswith("train_"))
            val_part = "  ".join(f"{m} {result.metrics[m]:.4f}" for m in self.task.metric_names)
            print(f"epoch {row['epoch']:>3}/{self.config.epochs}  train {train_part}  val {val_part}  "
                  f"lr {row['lr']:.3g}  {images_per_s:.0f} img/s  {seconds:.1f}s" + ("  *best" if improved else ""),
                  flush=True)
            metrics = result.summary()
            self.save("last.pt", metrics)
            if improved:
                self.save("best.pt", metrics, with_resume=False)
            if self.plotting:
                plot_curves(self.log.rows(), self.run_dir / "curves.png", self.task.primary_metric,
                            self.task.train_stats[0] if self.task.train_stats else None)
                self.task.plots(result, self.run_dir)
        return result

    def _handle_signal(self, signum: int, _frame: Any) -> None:
        if self.stop_signal is not None:  # asked twice: stop now, without saving
            raise KeyboardInterrupt
        self.stop_signal = signum
        if self.ctx.is_main:
            print(f"\n{STOP_SIGNALS.get(signum, signum)}: stopping after this step (again to abort without saving)",
                  file=sys.stderr, flush=True)

    def fit(self) -> TrainResult:
        last: EvalResult | None = None
        interrupted = False
        handlers = {}
        if threading.current_thread() is threading.main_thread():
            handlers = {sig: signal.signal(sig, self._handle_signal) for sig in STOP_SIGNALS}
        if self.ctx.is_main:
            self.plotting = load_plotting()
            print(f"run folder: {self.run_dir}  ({len(self.train_base)} train / {len(self.val_base)} val images, "
                  f"{len(self.class_names)} classes, {self.task.name}, {self.ctx.world_size} process(es), "
                  f"{self.ctx.device})", flush=True)
        try:
            while self.epoch < self.config.epochs:
                started = time.perf_counter()
                rate = self.train_epoch()
                last = self.end_epoch(rate, time.perf_counter() - started)
        except Interrupted:
            interrupted = True
            self.save("last.pt")
            if self.ctx.is_main:
                print(f"\ninterrupted at epoch {self.epoch + 1}, step {self.step}: saved "
                      f"{self.run_dir / 'last.pt'}; resume it with: mobilenet train --resume {self.run_dir}", flush=True)
        except BaseException:
            if self.ctx.is_main and self.created_run_dir:
                discard_if_unused(self.run_dir)
            raise
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            self.log.close()
            if self.lock is not None:
                self.lock.release()
        return TrainResult(self.run_dir, self.best_score, self.task.primary_metric, last, self.eval_model(),
                           interrupted, self.ctx.is_main, self.stop_signal)


def _list_collate(batch: list[Any]) -> dict[str, Any]:
    return collate(batch, stack_targets=False)


RUN_FILES = ("config.yaml", "split.json", "metrics.csv", "curves.png", "tensorboard", LOCK_NAME)


def discard_if_unused(run_dir: Path) -> None:
    """Remove a new run's folder when it failed before writing any checkpoint (and holds only the
    files a run writes), so a failed start leaves nothing behind."""
    if not run_dir.is_dir() or any((run_dir / name).exists() for name in ("last.pt", "best.pt")):
        return
    entries = list(run_dir.iterdir())
    if all(entry.name in RUN_FILES or entry.name.endswith(".png") for entry in entries):
        shutil.rmtree(run_dir, ignore_errors=True)


def train(config: TrainConfig | None = None, resume: str | Path | None = None,
          on_step: Callable[[Trainer], None] | None = None, overrides: dict[str, Any] | None = None) -> TrainResult:
    """Train (or resume) a model of any task; returns the run folder, best score and the final model.

    ``resume``: a run folder or its ``last.pt``; the run's own settings are used, and
    ``overrides`` may change the ones in ``RESUME_OVERRIDABLE``. Under torchrun the process group
    is joined here and left at the end."""
    try:
        return Trainer(config, resume, on_step, overrides).fit()
    finally:
        cleanup()
