"""``mobilenet demo``: the main job end to end on the embedded digits, in a few minutes on a CPU.

Trains MobileNetV3-Small from scratch (the ``digits`` recipe), evaluates the best checkpoint on the
held-out images, and prints accuracy, parameters, multiply-adds, measured latency and the run folder.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mobilenet.cli.train import add_config_flags, config_from_args
from mobilenet.extras import MissingExtra


def measure_latency(model: nn.Module, resolution: int, runs: int = 50, warmup: int = 10) -> float:
    """Median milliseconds of one batch-1 forward pass (eval mode, no grad) on the CPU."""
    model = model.eval()
    x = torch.randn(1, 3, resolution, resolution)
    times = []
    with torch.inference_mode():
        for i in range(warmup + runs):
            start = time.perf_counter()
            model(x)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("demo", help="train MobileNetV3-Small on the embedded digits and report it",
                              description="Train, evaluate and measure a MobileNetV3-Small on the embedded "
                                          "handwritten digits (the digits recipe; any train flag overrides it).")
    p.set_defaults(recipe="digits", resume=None)
    add_config_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mobilenet.cost import profile
    from mobilenet.data.pipeline import AugmentedDataset, EpochSampler, make_loader
    from mobilenet.engine.distributed import DistContext
    from mobilenet.engine.evaluate import evaluate
    from mobilenet.engine.trainer import train
    from mobilenet.sources import open_source
    from mobilenet.tasks import get_task

    config = config_from_args(args)
    started = time.perf_counter()
    result = train(config)
    if result.interrupted:
        return 128 + (result.signal or 2)
    train_s = time.perf_counter() - started
    source = open_source(str(result.run_dir / "best.pt"))
    model, checkpoint, task = source.model, source.checkpoint or {}, get_task("classification")
    dataset = task.eval_dataset(config.data, source.class_names, checkpoint)
    loader = make_loader(AugmentedDataset(dataset, task.eval_transform(source.preprocessing)),
                         EpochSampler(len(dataset), False, pad=False), 256, 0, drop_last=False)
    scores = evaluate(task, model, loader, source.class_names, DistContext())
    cost = profile(model, config.resolution)
    latency = measure_latency(model, config.resolution)
    print()
    print(f"model       {model.model_name} (width {model.width_mult:g}) at {config.resolution}x{config.resolution}, "
          f"{len(source.class_names)} classes, trained {config.epochs} epochs from scratch")
    print(f"accuracy    top-1 {scores.metrics['top1']:.2%}  top-5 {scores.metrics['top5']:.2%} on {scores.count} "
          f"held-out digits (best epoch {checkpoint.get('epoch')})")
    print(f"params      {cost.params / 1e6:.3f} M (papers' count, BN folded)")
    print(f"MACs        {cost.macs / 1e6:.2f} M per image")
    print(f"latency     {latency:.2f} ms per image (batch 1, CPU, {torch.get_num_threads()} threads, median of 50)")
    print(f"time        {train_s:.0f} s to train and validate")
    print(f"run folder  {result.run_dir}  (best.pt, last.pt, metrics.csv, curves.png, confusion.png, tensorboard/)")
    try:  # issue 5: the same model on an edge runtime
        lines = deploy_lines(config, source, result.run_dir, list(loader))
    except MissingExtra as missing:
        print(f"\ndeploy      skipped: {missing}")
        return 0
    print("\n".join(["", "deploy      float and INT8 (static QDQ, per-channel) ONNX of best.pt:", *lines]))
    return 0


def deploy_lines(config: Any, source: Any, run_dir: Path, val_batches: list[dict[str, Any]],
                 calib_images: int = 128) -> list[str]:
    """Float and INT8 ONNX of the run's best model in ``run_dir`` (INT8 calibrated on the run's
    training images, eval transform), with their top-1 on ``val_batches`` and latency."""
    import numpy as np

    from mobilenet.data.pipeline import AugmentedDataset, EpochSampler, make_loader
    from mobilenet.export.bench import time_calls
    from mobilenet.export.onnx import export_onnx, make_session
    from mobilenet.export.onnxruntime.quantize import quantize_source
    from mobilenet.export.runtimes import onnxruntime_runner
    from mobilenet.tasks import get_task

    task = get_task("classification")
    train_set = task.build_datasets(config, run_dir).train
    calib = make_loader(AugmentedDataset(train_set, task.eval_transform(source.preprocessing)),
                        EpochSampler(len(train_set), True, seed=0), 64, 0, drop_last=False)
    arrays, total = [], 0
    for batch in calib:
        if batch["images"] is not None and total < calib_images:
            arrays.append(batch["images"].numpy().astype(np.float32))
            total += len(arrays[-1])
    float_path, int8_path = run_dir / "model.onnx", run_dir / "model.int8.onnx"
    export_onnx(source, float_path, batch="dynamic")
    quantize_source(source, int8_path, arrays, limit=calib_images)
    lines = []
    for label, path in (("onnx fp32", float_path), ("onnx int8", int8_path)):
        session = make_session(path)
        name = session.get_inputs()[0].name
        correct = count = 0
        for batch in val_batches:
            if batch["images"] is not None:
                logits = session.run(None, {name: batch["images"].numpy()})[0]
                correct += int((logits.argmax(1) == batch["targets"].numpy()).sum())
                count += len(logits)
        times = time_calls(onnxruntime_runner(None, path, 1, source.resolution, 2), warmup=10, runs=50)
        p50 = 1e3 * sorted(times)[len(times) // 2]
        lines.append(f"{label:<11} top-1 {correct / max(count, 1):.2%} on {count} held-out images, {p50:.2f} ms "
                     f"(onnxruntime, batch 1, 2 threads, median of 50), {path.stat().st_size / 2**20:.2f} MB  {path}")
    return lines
