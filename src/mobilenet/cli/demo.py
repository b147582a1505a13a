"""``mobilenet demo``: the main job end to end on the embedded digits, in a few minutes on a CPU.

Trains MobileNetV3-Small from scratch (the ``digits`` recipe), evaluates the best checkpoint on the
held-out images, and prints accuracy, parameters, multiply-adds, measured latency and the run folder.
"""

from __future__ import annotations

import argparse
import statistics
import time
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
    from mobilenet.cli.evaluate import eval_dataset
    from mobilenet.cost import profile
    from mobilenet.data.pipeline import AugmentedDataset, EpochSampler, make_loader
    from mobilenet.data.transforms import eval_transform
    from mobilenet.engine.checkpoint import model_from_checkpoint
    from mobilenet.engine.distributed import DistContext
    from mobilenet.engine.evaluate import evaluate
    from mobilenet.engine.trainer import train

    config = config_from_args(args)
    started = time.perf_counter()
    result = train(config)
    if result.interrupted:
        return 130
    train_s = time.perf_counter() - started
    model, checkpoint = model_from_checkpoint(result.run_dir / "best.pt")
    dataset = eval_dataset(config.data, checkpoint)
    loader = make_loader(AugmentedDataset(dataset, eval_transform(checkpoint["preprocessing"])),
                         EpochSampler(len(dataset), False), 256, 0, drop_last=False)
    scores = evaluate(model, loader, checkpoint["class_names"], DistContext())
    cost = profile(model, config.resolution)
    latency = measure_latency(model, config.resolution)
    print()
    print(f"model       {model.model_name} (width {model.width_mult:g}) at {config.resolution}x{config.resolution}, "
          f"{len(checkpoint['class_names'])} classes, trained {config.epochs} epochs from scratch")
    print(f"accuracy    top-1 {scores.top1:.2%}  top-5 {scores.top5:.2%} on {scores.count} held-out digits "
          f"(best epoch {checkpoint['epoch']})")
    print(f"params      {cost.params / 1e6:.3f} M (papers' count, BN folded)")
    print(f"MACs        {cost.macs / 1e6:.2f} M per image")
    print(f"latency     {latency:.2f} ms per image (batch 1, CPU, {torch.get_num_threads()} threads, median of 50)")
    print(f"time        {train_s:.0f} s to train and validate")
    print(f"run folder  {result.run_dir}  (best.pt, last.pt, metrics.csv, curves.png, confusion.png, tensorboard/)")
    try:  # issue 5: the same model on an edge runtime
        from mobilenet.export.report import demo_deploy_lines
    except MissingExtra as missing:
        print(f"\ndeploy      skipped: {missing}")
        return 0
    print("\n".join(["", "deploy      float and INT8 (static QDQ, per-channel) ONNX of best.pt:",
                      *demo_deploy_lines(config, result.run_dir, loader)]))
    return 0
