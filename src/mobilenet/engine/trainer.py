"""The training loop: ``train(config)`` from Python, ``mobilenet train`` from the shell.

One epoch = the seeded, sharded sampler's batches; after each epoch the model (or its EMA) is
evaluated and ``last.pt`` (+ ``best.pt`` when top-1 improves) are written atomically. A run can be
stopped at any step (Ctrl-C saves first; ``save_every_steps`` also covers a hard kill) and resumed
exactly: weights, optimiser, scheduler, EMA, epoch, step, sampler position and RNG states are in
``last.pt``, and every sample's augmentation depends only on (seed, epoch, index).
"""

from __future__ import annotations

import json
import random
import time
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from mobilenet.data.pipeline import AugmentedDataset, EpochSampler, default_workers, make_loader
from mobilenet.data.transforms import eval_transform
from mobilenet.engine import builders
from mobilenet.engine.checkpoint import FORMAT, read_checkpoint, save_atomic
from mobilenet.engine.config import TrainConfig, save_config
from mobilenet.engine.distributed import DistContext, all_reduce_mean, cleanup, convert_sync_batchnorm, setup
from mobilenet.engine.evaluate import EvalResult, evaluate
from mobilenet.engine.optim import build_optimizer, build_scheduler
from mobilenet.engine.report import RunLog, load_plotting, plot_confusion, plot_curves

# Settings a resumed run may change; all others come from the checkpoint so the run stays exact.
RESUME_OVERRIDABLE = ("epochs", "progress", "workers", "device", "save_every_steps")


@dataclass
class TrainResult:
    run_dir: Path
    best_top1: float
    last: EvalResult | None
    model: nn.Module          # the evaluation weights (EMA when enabled)
    interrupted: bool = False
    is_main: bool = True      # rank 0 (the process that writes and reports)


class Interrupted(Exception):
    """Raised by a step callback to stop like Ctrl-C does (tests)."""


def rng_state() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def new_run_dir(config: TrainConfig) -> Path:
    data = "digits" if builders.is_digits(config.data) else Path(config.data).name
    name = config.name or f"{config.model}-{data}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    return Path(config.output) / name


class Trainer:
    def __init__(self, config: TrainConfig, resume: str | Path | None = None,
                 on_step: Callable[["Trainer"], None] | None = None) -> None:
        checkpoint = read_checkpoint(resume, "last.pt") if resume else None
        if checkpoint is not None:
            saved = TrainConfig(**checkpoint["config"])
            for key in RESUME_OVERRIDABLE:
                setattr(saved, key, getattr(config, key))
            config = saved
            if "resume" not in checkpoint:
                raise ValueError(f"{checkpoint['path']!r} has no resume state (best.pt keeps only weights); "
                                 "resume from the run folder or its last.pt")
        self.config, self.on_step = config, on_step
        self.ctx: DistContext = setup(config.device)
        self.run_dir = Path(checkpoint["path"]).parent if checkpoint else new_run_dir(config)
        if self.ctx.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        seed_everything(config.seed)

        train_set, val_set, self.class_names, split = builders.build_datasets(config, self.run_dir)
        self.train_base, self.val_base = train_set, val_set
        self.model = builders.build_model(config, len(self.class_names))
        self.preprocessing = builders.model_preprocessing(self.model, config)
        if config.sync_bn and self.ctx.distributed:
            self.model = convert_sync_batchnorm(self.model, self.ctx.device)
        self.model.to(self.ctx.device)
        if config.channels_last:
            self.model.to(memory_format=torch.channels_last)

        world = self.ctx.world_size
        if config.batch_size % world:
            raise ValueError(f"batch_size {config.batch_size} must divide evenly among {world} processes")
        self.local_batch = config.batch_size // world
        if len(train_set) < config.batch_size:
            raise ValueError(f"the training set has {len(train_set)} images, fewer than one batch of "
                             f"{config.batch_size}; lower --batch-size")
        in_memory = builders.is_digits(config.data)
        workers = default_workers(in_memory, world) if config.workers < 0 else config.workers
        self.train_sampler = EpochSampler(len(train_set), True, config.seed, self.ctx.rank, world)
        self.val_sampler = EpochSampler(len(val_set), False, config.seed, self.ctx.rank, world)
        transform = builders.make_train_transform(self.preprocessing, config)
        self.train_loader = make_loader(AugmentedDataset(train_set, transform), self.train_sampler,
                                        self.local_batch, workers, drop_last=True,
                                        pin_memory=self.ctx.device.type == "cuda")
        self.val_loader = make_loader(AugmentedDataset(val_set, eval_transform(self.preprocessing)),
                                      self.val_sampler, self.local_batch, workers, drop_last=False)
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
        self.criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        self.log = RunLog(self.run_dir, enabled=self.ctx.is_main)

        self.epoch, self.step, self.consumed = 0, 0, 0
        self.epoch_stats = {"loss": 0.0, "correct": 0.0, "seen": 0.0}
        self.best_top1, self.skipped_warned = -1.0, False
        self.skipped_train: set[int] = set()
        if checkpoint is not None:
            self._restore(checkpoint)
        elif self.ctx.is_main:
            save_config(config, self.run_dir / "config.yaml")
            (self.run_dir / "split.json").write_text(json.dumps(split))

    # --- state -------------------------------------------------------------------------------
    def eval_model(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.model

    def checkpoint(self, metrics: dict[str, float] | None, with_resume: bool) -> dict[str, Any]:
        record: dict[str, Any] = {
            "format": FORMAT, "model_config": self.model.config, "class_names": self.class_names,
            "preprocessing": self.preprocessing, "config": self.config.to_dict(), "epoch": self.epoch,
            "step": self.step, "metrics": metrics or {},
            "state_dict": {k: v.detach().cpu() for k, v in self.eval_model().state_dict().items()},
        }
        if with_resume:
            record["resume"] = {
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "ema": self.ema.state_dict() if self.ema else None,
                "scaler": self.scaler.state_dict() if self.scaler else None, "rng": rng_state(),
                "epoch": self.epoch, "step": self.step, "consumed": self.consumed,
                "epoch_stats": dict(self.epoch_stats), "best_top1": self.best_top1,
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
        self.epoch_stats, self.best_top1 = dict(state["epoch_stats"]), state["best_top1"]

    # --- loop --------------------------------------------------------------------------------
    def train_step(self, batch: dict[str, Any]) -> None:
        images = batch["images"].to(self.ctx.device, non_blocking=True)
        targets = batch["targets"].to(self.ctx.device, non_blocking=True)
        if self.config.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with self.autocast():
            logits = self.ddp(images)
            loss = self.criterion(logits, targets)
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
        self.consumed += len(batch["skipped"]) + len(targets)
        n = len(targets)
        self.epoch_stats["loss"] += float(loss.detach()) * n
        self.epoch_stats["correct"] += float((logits.detach().argmax(1) == targets).sum())
        self.epoch_stats["seen"] += n

    def set_frozen_bn(self) -> None:
        """Pretrained BN statistics stay fixed while the backbone is frozen, and for the whole run
        with ``freeze_bn`` (Keras' fine-tuning advice: small batches of a new domain give noisy
        batch statistics that the running averages then disagree with at evaluation)."""
        frozen = bool(self.config.weights) and (self.config.freeze_bn or self.epoch < self.config.freeze_epochs)
        for name, module in self.model.named_modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and not name.startswith("classifier"):
                module.train(not frozen)

    def train_epoch(self) -> float:
        self.model.train()
        self.set_frozen_bn()
        self.train_sampler.set_position(self.epoch, self.consumed)
        steps_left = self.steps_per_epoch - self.consumed // self.local_batch
        bar = tqdm(total=self.steps_per_epoch, initial=self.steps_per_epoch - steps_left, leave=False,
                   desc=f"epoch {self.epoch + 1}/{self.config.epochs}", unit="step",
                   disable=not (self.config.progress and self.ctx.is_main), dynamic_ncols=True)
        started, images = time.perf_counter(), 0
        for batch in self.train_loader:
            self.skipped_train.update(batch["skipped"])
            if batch["images"] is None:
                self.consumed += len(batch["skipped"])
                continue
            self.train_step(batch)
            images += len(batch["targets"]) * self.ctx.world_size
            seen = max(self.epoch_stats["seen"], 1)
            bar.set_postfix(loss=f"{self.epoch_stats['loss'] / seen:.3f}",
                            acc=f"{self.epoch_stats['correct'] / seen:.3f}",
                            img_s=f"{images / (time.perf_counter() - started):.0f}", refresh=False)
            bar.update(1)
            if self.config.save_every_steps and self.step % self.config.save_every_steps == 0:
                self.save()
            if self.on_step is not None:
                self.on_step(self)
        bar.close()
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
        result = evaluate(self.eval_model(), self.val_loader, self.class_names, self.ctx,
                          self.config.channels_last, self.autocast)
        if self.ctx.is_main:
            self.warn_skipped(result.skipped)
        seen = max(self.epoch_stats["seen"], 1)
        row = {"epoch": self.epoch + 1, "step": self.step, "lr": self.optimizer.param_groups[0]["lr"],
               "train_loss": all_reduce_mean(self.epoch_stats["loss"] / seen, self.ctx),
               "train_acc": all_reduce_mean(self.epoch_stats["correct"] / seen, self.ctx),
               "val_loss": result.loss, "val_top1": result.top1, "val_top5": result.top5,
               "images_per_s": images_per_s, "epoch_s": seconds}
        self.epoch += 1
        self.consumed = 0
        self.epoch_stats = {"loss": 0.0, "correct": 0.0, "seen": 0.0}
        improved = result.top1 > self.best_top1
        self.best_top1 = max(self.best_top1, result.top1)
        if self.ctx.is_main:
            self.log.append(row)
            print(f"epoch {row['epoch']:>3}/{self.config.epochs}  train loss {row['train_loss']:.4f} "
                  f"acc {row['train_acc']:.4f}  val loss {row['val_loss']:.4f} top1 {row['val_top1']:.4f} "
                  f"top5 {row['val_top5']:.4f}  lr {row['lr']:.3g}  {images_per_s:.0f} img/s  {seconds:.1f}s"
                  + ("  *best" if improved else ""), flush=True)
            metrics = result.summary()
            self.save("last.pt", metrics)
            if improved:
                self.save("best.pt", metrics, with_resume=False)
            plot_curves(self.log.rows(), self.run_dir / "curves.png")
            plot_confusion(result.confusion, self.class_names, self.run_dir / "confusion.png")
        return result

    def fit(self) -> TrainResult:
        last: EvalResult | None = None
        interrupted = False
        if self.ctx.is_main:
            load_plotting()
            print(f"run folder: {self.run_dir}  ({len(self.train_base)} train / {len(self.val_base)} val images, "
                  f"{len(self.class_names)} classes, {self.ctx.world_size} process(es), {self.ctx.device})",
                  flush=True)
        try:
            while self.epoch < self.config.epochs:
                started = time.perf_counter()
                rate = self.train_epoch()
                last = self.end_epoch(rate, time.perf_counter() - started)
        except (KeyboardInterrupt, Interrupted):
            interrupted = True
            self.save("last.pt")
            if self.ctx.is_main:
                print(f"\ninterrupted at epoch {self.epoch + 1}, step {self.step}: saved "
                      f"{self.run_dir / 'last.pt'}; continue with --resume {self.run_dir}", flush=True)
        finally:
            self.log.close()
        model = self.eval_model()
        return TrainResult(self.run_dir, self.best_top1, last, model, interrupted, self.ctx.is_main)


def train(config: TrainConfig, resume: str | Path | None = None,
          on_step: Callable[[Trainer], None] | None = None) -> TrainResult:
    """Train (or resume) a classifier; returns the run folder, best top-1 and the final model.

    Under torchrun the process group is joined here and left at the end."""
    try:
        return Trainer(config, resume, on_step).fit()
    finally:
        cleanup()
