"""Issue 5 speed targets, measured in one process: batch 1, 2 threads, median of many interleaved runs.

For mobilenet_v2, mobilenet_v3_large and mobilenet_v3_small at 224:
  (a) our float ONNX vs torchvision's same model exported with torch.onnx.export, same onnxruntime
      session options: ours <= 1.05x its latency;
  (b) our INT8 (static QDQ, per-channel, from the INT8 form: ``mobilenet.export.onnxruntime.int8_form``) vs our
      float ONNX: >= 1.3x faster for V2 and V3-Large, not slower for V3-Small;
  (c) our PyTorch eager inference form (BN folded, channels-last) vs torchvision's eager model:
      <= 1.05x.
Pairs are timed in alternating rounds (A, B, A, B, ...) so that load from other processes hits
both sides alike. Run: ``.venv/bin/python bench/deploy.py [--rounds 30] [--calls 20] [--calib DIR] [--threads 2]``
(the targets are for 2 threads; ``--threads 1`` shows how each runtime's kernels scale).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
import torchvision

import mobilenet
from mobilenet.data.preprocessing import Preprocessing
from mobilenet.export.bench import time_calls
from mobilenet.export.onnx import DEFAULT_OPSET, export_onnx
from mobilenet.export.onnxruntime.quantize import quantize_source
from mobilenet.export.runtimes import onnxruntime_runner, torch_runner
from mobilenet.sources import ModelSource

MODELS = ("mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small")
RESOLUTION, BATCH, THREADS = 224, 1, 2  # THREADS: the default of --threads
CALIB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "classification" / "hymenoptera" / "train"
# name -> (target ratio, "max" when ours / theirs must stay below it, "min" for a speed-up above it)
TARGETS = {"a": (1.05, "max"), "b_v2": (1.3, "min"), "b_v3l": (1.3, "min"), "b_v3s": (1.0, "min"), "c": (1.05, "max")}


def interleaved(a: Callable[[], Any], b: Callable[[], Any], rounds: int, calls: int) -> tuple[float, float]:
    """Median seconds per call of ``a`` and ``b``, timed in alternating rounds of ``calls`` calls."""
    time_calls(a, warmup=calls, runs=0)
    time_calls(b, warmup=calls, runs=0)
    times_a: list[float] = []
    times_b: list[float] = []
    for _ in range(rounds):
        times_a += time_calls(a, warmup=1, runs=calls)
        times_b += time_calls(b, warmup=1, runs=calls)
    return statistics.median(times_a), statistics.median(times_b)


def torchvision_model(name: str) -> torch.nn.Module:
    return getattr(torchvision.models, name)(weights=None).eval()


def torchvision_eager(model: torch.nn.Module) -> Callable[[], Any]:
    x = torch.randn(BATCH, 3, RESOLUTION, RESOLUTION)

    def run() -> Any:
        with torch.inference_mode():
            return model(x)

    return run


def export_torchvision(model: torch.nn.Module, path: Path) -> None:
    """torchvision's model as its users export it: torch.onnx.export, same opset as ours."""
    x = torch.randn(1, 3, RESOLUTION, RESOLUTION)
    program = torch.onnx.export(model, (x,), None, opset_version=DEFAULT_OPSET, dynamo=True, verbose=False,
                                input_names=["input"], output_names=["logits"])
    program.save(str(path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30, help="alternating rounds per pair")
    parser.add_argument("--calls", type=int, default=20, help="timed calls per round")
    parser.add_argument("--calib", default=str(CALIB), help="calibration images for INT8")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--threads", type=int, default=THREADS, help="intra-op threads of every runtime")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="deploy-bench-"))
    rows = []
    for name in args.models.split(","):
        torch.manual_seed(0)
        ours = mobilenet.create_model(name, resolution=RESOLUTION).eval()
        theirs = torchvision_model(name)
        ours_onnx, theirs_onnx, ours_int8 = work / f"{name}.onnx", work / f"{name}.tv.onnx", work / f"{name}.int8.onnx"
        source = ModelSource(ours, name, Preprocessing(RESOLUTION))
        export_onnx(source, ours_onnx, batch=BATCH)
        export_torchvision(theirs, theirs_onnx)
        quantize_source(source, ours_int8, args.calib, limit=64, batch=BATCH)
        run = {
            "ours_onnx": onnxruntime_runner(None, ours_onnx, BATCH, RESOLUTION, args.threads),
            "tv_onnx": onnxruntime_runner(None, theirs_onnx, BATCH, RESOLUTION, args.threads),
            "ours_int8": onnxruntime_runner(None, ours_int8, BATCH, RESOLUTION, args.threads),
            "ours_eager": torch_runner(source, None, BATCH, RESOLUTION, None, channels_last=True),
            "ours_eager_nchw": torch_runner(source, None, BATCH, RESOLUTION, None, channels_last=False),
            "tv_eager": torchvision_eager(theirs),
        }
        started = time.perf_counter()
        a_ours, a_tv = interleaved(run["ours_onnx"], run["tv_onnx"], args.rounds, args.calls)
        b_int8, b_float = interleaved(run["ours_int8"], run["ours_onnx"], args.rounds, args.calls)
        c_ours, c_tv = interleaved(run["ours_eager"], run["tv_eager"], args.rounds, max(5, args.calls // 4))
        c_nchw, c_tv2 = interleaved(run["ours_eager_nchw"], run["tv_eager"], args.rounds, max(5, args.calls // 4))
        key_b = {"mobilenet_v2": "b_v2", "mobilenet_v3_large": "b_v3l", "mobilenet_v3_small": "b_v3s"}[name]
        rows.append({
            "model": name,
            "onnx ours ms": 1e3 * a_ours, "onnx tv ms": 1e3 * a_tv, "(a) ours/tv": a_ours / a_tv,
            "int8 ms": 1e3 * b_int8, "(b) float/int8": b_float / b_int8,
            "eager ours ms": 1e3 * c_ours, "eager tv ms": 1e3 * c_tv, "(c) ours/tv": c_ours / c_tv,
            "(c) nchw ours/tv": c_nchw / c_tv2,
            "_b": key_b, "_seconds": time.perf_counter() - started,
        })
        print(f"measured {name} in {rows[-1]['_seconds']:.0f}s", file=sys.stderr, flush=True)
    print_table(rows, args.threads)
    return 0


def verdict(value: float, key: str) -> str:
    target, kind = TARGETS[key]
    ok = value <= target if kind == "max" else value >= target
    return f"{value:.3f} {'ok' if ok else 'MISS'} ({'<=' if kind == 'max' else '>='}{target})"


def print_table(rows: list[dict[str, Any]], threads: int) -> None:
    header = ("model", "onnx ours ms", "onnx tv ms", "(a) ours/tv", "int8 ms", "(b) float/int8",
              "eager ours ms", "eager tv ms", "(c) ours/tv", "(c) nchw ours/tv")
    print(f"batch {BATCH}, {threads} threads, {RESOLUTION}x{RESOLUTION}; onnxruntime, torch {torch.__version__}, "
          f"torchvision {torchvision.__version__}; medians of interleaved rounds")
    print(" | ".join(header))
    for row in rows:
        cells = [row["model"]]
        for column in header[1:]:
            value = row[column]
            if column == "(a) ours/tv" or column == "(c) ours/tv":
                cells.append(verdict(value, "a" if column.startswith("(a)") else "c"))
            elif column == "(b) float/int8":
                cells.append(verdict(value, row["_b"]))
            else:
                cells.append(f"{value:.3f}" if "/" in column else f"{value:.2f}")
        print(" | ".join(cells))


if __name__ == "__main__":
    sys.exit(main())
