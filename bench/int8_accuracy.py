"""Float vs INT8 (post-training, each calibration method) vs INT8 after QAT, on a validation folder.

Run: ``.venv/bin/python bench/int8_accuracy.py RUN_OR_CHECKPOINT --data ../shared/data/classification/hymenoptera
[--recalibrate-bn] [--qat-epochs 3]``. Calibration and QAT use ``DATA/train``; accuracy is on
``DATA/val``. Every figure is top-1 of onnxruntime on the exported files (the float row also gives
PyTorch's, which must agree), with p50 latency at batch 1, 2 threads.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

from mobilenet.cli.tables import render
from mobilenet.export.accuracy import onnx_accuracy, torch_accuracy
from mobilenet.export.bench import onnx_runner, time_calls
from mobilenet.export.fuse import recalibrate_batch_norm
from mobilenet.export.images import batches, list_images
from mobilenet.export.onnx import export_onnx
from mobilenet.export.onnxruntime.qat import qat_int8
from mobilenet.export.onnxruntime.quantize import quantize_source
from mobilenet.sources import open_source

import torch


def latency_ms(path: Path, resolution: int) -> float:
    times = time_calls(onnx_runner(path, 1, resolution, 2), warmup=10, runs=60)
    return 1e3 * sorted(times)[len(times) // 2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="checkpoint or run folder (or a registered name)")
    parser.add_argument("--data", required=True, help="folder with train/ and val/ class folders")
    parser.add_argument("--methods", default="minmax,entropy,percentile")
    parser.add_argument("--qat-epochs", type=int, default=3)
    parser.add_argument("--qat-lr", type=float, default=0.005)
    parser.add_argument("--qat-method", default="minmax")
    parser.add_argument("--recalibrate-bn", action="store_true",
                        help="recompute BN statistics on train/ before anything (short runs with BN momentum 0.01)")
    parser.add_argument("--out", help="keep the ONNX files here (default: a temporary folder)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    train, val = Path(args.data) / "train", Path(args.data) / "val"
    source = open_source(args.model)
    resolution = source.preprocessing["resolution"]
    if args.recalibrate_bn:
        images = list_images(train)
        recalibrate_batch_norm(source.model, (torch.from_numpy(b) for b in batches(images, source.preprocessing, 32)))
    work = Path(args.out or tempfile.mkdtemp(prefix="int8-accuracy-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    torch_top1 = torch_accuracy(source.model, val, source.preprocessing, source.class_names)
    float_path = work / "float.onnx"
    export_onnx(source, float_path, batch="dynamic")
    files = [("fp32", "-", float_path)]
    for method in args.methods.split(","):
        path = work / f"ptq-{method}.onnx"
        quantize_source(source, path, train, method=method)
        files.append(("int8 PTQ", method, path))
    if args.qat_epochs:
        path = work / "qat.onnx"
        log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
        qat_int8(source, path, train, train, args.qat_epochs, method=args.qat_method, lr=args.qat_lr, log=log)
        files.append((f"int8 QAT {args.qat_epochs} ep", args.qat_method, path))
    float_top1 = None
    for precision, method, path in files:
        accuracy = onnx_accuracy(path, val)
        float_top1 = accuracy.top1 if float_top1 is None else float_top1
        rows.append({"precision": precision, "calibration": method, "top1": 100 * accuracy.top1,
                     "correct": f"{accuracy.correct}/{accuracy.count}",
                     "delta_points": 100 * (accuracy.top1 - float_top1),
                     "p50_ms": latency_ms(path, resolution), "size_mb": path.stat().st_size / 2**20})
    print(f"{source.name} ({source.model.model_name} @{resolution}); PyTorch float top-1 {torch_top1}; "
          f"BN recalibrated: {args.recalibrate_bn}")
    print(render(rows, ("precision", "calibration", "top1", "correct", "delta_points", "p50_ms", "size_mb"), "markdown"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
