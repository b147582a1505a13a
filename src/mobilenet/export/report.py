"""The deployment step of ``mobilenet demo``: a trained checkpoint to float and INT8 ONNX, with
top-1 and latency of both on the same held-out images."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np

from mobilenet.export.bench import onnx_runner, time_calls
from mobilenet.export.onnx import export_onnx, make_session
from mobilenet.export.quantize import quantize_source
from mobilenet.export.source import load_source


def _top1(path: Path, batches: Iterable[dict[str, Any]]) -> tuple[float, int]:
    session = make_session(path)
    name = session.get_inputs()[0].name
    correct = count = 0
    for batch in batches:
        if batch["images"] is None:
            continue
        logits = session.run(None, {name: batch["images"].numpy()})[0]
        correct += int((logits.argmax(1) == batch["targets"].numpy()).sum())
        count += len(logits)
    return correct / max(count, 1), count


def deploy_report(checkpoint: str | Path, calib_batches: Iterable[dict[str, Any]], val_batches: list[dict[str, Any]],
                  out_dir: str | Path, calib_images: int = 128) -> list[str]:
    """Export ``checkpoint`` to ``out_dir/model.onnx`` and ``model.int8.onnx`` (static, calibrated on
    ``calib_batches``, the training images); lines comparing their top-1 on ``val_batches`` and latency."""
    out_dir = Path(out_dir)
    source = load_source(str(checkpoint))
    resolution = source.preprocessing["resolution"]
    float_path, int8_path = out_dir / "model.onnx", out_dir / "model.int8.onnx"
    export_onnx(source, float_path, batch="dynamic")
    arrays, total = [], 0
    for batch in calib_batches:
        if batch["images"] is not None and total < calib_images:
            arrays.append(batch["images"].numpy().astype(np.float32))
            total += len(arrays[-1])
    quantize_source(source, int8_path, arrays, limit=calib_images)
    lines = []
    for label, path in (("onnx fp32", float_path), ("onnx int8", int8_path)):
        top1, count = _top1(path, val_batches)
        times = time_calls(onnx_runner(path, 1, resolution, 2), warmup=10, runs=50)
        p50 = 1e3 * sorted(times)[len(times) // 2]
        lines.append(f"{label:<11} top-1 {top1:.2%} on {count} held-out images, {p50:.2f} ms (onnxruntime, batch 1, "
                     f"2 threads, median of 50), {path.stat().st_size / 2**20:.2f} MB  {path}")
    return lines


def demo_deploy_lines(config: Any, run_dir: Path, val_loader: Any) -> list[str]:
    """``mobilenet demo``'s last step: INT8 calibrated on the run's training images (eval transform)."""
    from mobilenet.data.pipeline import AugmentedDataset, EpochSampler, make_loader
    from mobilenet.data.transforms import eval_transform
    from mobilenet.engine.builders import build_datasets
    from mobilenet.engine.checkpoint import read_checkpoint

    checkpoint = read_checkpoint(run_dir / "best.pt")
    train_set = build_datasets(config, run_dir)[0]
    calib = make_loader(AugmentedDataset(train_set, eval_transform(checkpoint["preprocessing"])),
                        EpochSampler(len(train_set), True, seed=0), 64, 0, drop_last=False)
    return deploy_report(run_dir / "best.pt", calib, list(val_loader), run_dir)
