"""``mobilenet bench``: latency, throughput, peak memory and file size on this machine, per runtime,
precision, batch size and thread count; ``--grid`` sweeps width x resolution into a Pareto plot."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mobilenet.cli.options import deprecated_alias
from mobilenet.cli.tables import FORMATS, render


NOISY_SPREAD = 1.5
"""A p90 this many times the p50 means the timings were disturbed (a warning, not an error)."""


def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def float_list(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def str_list(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("bench", help="latency/throughput/memory per runtime, precision and batch",
                              description=__doc__)
    p.add_argument("models", nargs="+", metavar="MODEL",
                   help="model sources (registered names, weights records or files, checkpoints, run folders) or "
                        "exported files (.onnx)")
    p.add_argument("--weights", metavar="RECORD_OR_FILE", help="weights for the registered name(s) given")
    p.add_argument("--runtime", type=str_list, default=["torch", "onnxruntime"],
                   help="comma list of runtimes (see `mobilenet bench --help`; default: torch,onnxruntime)")
    p.add_argument("--precision", type=str_list, default=["fp32"], help="comma list of fp32, int8")
    p.add_argument("--batch-size", type=int_list, default=[1], help="comma list of batch sizes (default: 1)")
    deprecated_alias(p, "--batch", "batch_size", "--batch-size", type=int_list)
    p.add_argument("--threads", type=int_list, default=[2], help="comma list of thread counts (default: 2)")
    p.add_argument("--resolution", type=int, help="input size (default: each model's)")
    p.add_argument("--runs", type=int, default=50, help="timed runs per case (default: 50)")
    p.add_argument("--warmup", type=int, default=10, help="untimed runs before timing (default: 10)")
    p.add_argument("--calib", help="calibration images for int8 (default: synthetic, latency only)")
    p.add_argument("--val", help="labelled folder: add top-1 per case (and to the Pareto plot)")
    p.add_argument("--grid", action="store_true", help="sweep --widths x --resolutions and draw a Pareto plot")
    p.add_argument("--widths", type=float_list, default=None, help="grid widths (default: 0.35,0.5,0.75,1.0)")
    p.add_argument("--resolutions", type=int_list, default=None, help="grid sizes (default: 128,160,192,224)")
    p.add_argument("--plot", help="Pareto plot PNG (default with --grid: <model>-pareto.png)")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--csv", help="also write the rows to this CSV file")
    p.add_argument("--json", help="also write the rows to this JSON file")
    p.set_defaults(func=run_bench)


def grid_sources(name: str, widths: list[float], resolutions: list[int]) -> list[tuple[Any, int]]:
    from mobilenet.data.preprocessing import Preprocessing
    from mobilenet.sources import ModelSource
    from mobilenet.models.registry import MODELS, build_model as create_model

    if name not in MODELS:
        raise ValueError(f"--grid sweeps a registered model family; {name!r} is not one (see `mobilenet list`)")
    return [(ModelSource(create_model(name, width_mult=w, resolution=r).eval(), f"{name}@{w:g}",
                    Preprocessing(r)), r) for w in widths for r in resolutions]


def run_bench(args: argparse.Namespace) -> int:
    from mobilenet.export.accuracy import onnx_accuracy
    from mobilenet.export.bench import (BENCH_COLUMNS, GRID_RESOLUTIONS, GRID_WIDTHS, PRECISIONS, Artifacts,
                                        bench_case, bench_file, check_choices, pareto_plot, published_top1)
    from mobilenet.export.runtimes import RUNTIMES
    from mobilenet.models.registry import MODELS
    from mobilenet.sources import RANDOM_WEIGHTS_NOTE, open_source
    from mobilenet.extras import pyplot

    check_choices(args.runtime, RUNTIMES, "runtime")
    check_choices(args.precision, PRECISIONS, "precision")
    if args.grid or args.plot:
        pyplot("the Pareto plot (--grid, --plot)")  # before measuring: missing matplotlib fails early
    if args.val and not Path(args.val).is_dir():
        raise FileNotFoundError(f"validation folder {args.val!r} does not exist")
    if args.calib and not Path(args.calib).is_dir():
        raise FileNotFoundError(f"calibration folder {args.calib!r} does not exist; pass a folder of images")
    if args.grid:
        cases = [c for name in args.models
                 for c in grid_sources(name, args.widths or list(GRID_WIDTHS),
                                       args.resolutions or list(GRID_RESOLUTIONS))]
    else:
        sources = [open_source(m, weights=args.weights if m in MODELS else None, resolution=args.resolution)
                   for m in args.models if not m.endswith(".onnx")]
        cases = [(s, s.resolution) for s in sources]
    artifacts = Artifacts(args.calib)
    rows: list[dict[str, Any]] = []
    files = [] if args.grid else [m for m in args.models if m.endswith(".onnx")]
    for path in files:  # exported files: their own precision and input size
        for runtime in [r for r in args.runtime if RUNTIMES[r].suffix == Path(path).suffix] or ["onnxruntime"]:
            for batch in args.batch_size:
                for threads in args.threads:
                    row = bench_file(path, runtime, batch, threads, args.warmup, args.runs)
                    if args.val:
                        row["top1"] = 100 * onnx_accuracy(path, args.val).top1
                    rows.append(row)
    for source, resolution in cases:
        for runtime in args.runtime:
            for precision in args.precision:
                if precision not in RUNTIMES[runtime].precisions and len(args.runtime) > 1:
                    continue  # e.g. no INT8 kernels in eager PyTorch: the other runtimes cover it
                for batch in args.batch_size:
                    for threads in args.threads:
                        row = bench_case(source, runtime, precision, batch, resolution, threads, artifacts,
                                         args.warmup, args.runs)
                        if args.val:
                            row["top1"] = top1(source, runtime, precision, resolution, artifacts, args.val)
                        rows.append(row)
    if not rows:
        raise ValueError("no case to run: choose a runtime that has the precision (e.g. onnxruntime for int8)")
    for row in rows:
        noisy = row.get("p90_ms", 0) > NOISY_SPREAD * row.get("p50_ms", float("inf"))
        if noisy:
            print(f"mobilenet bench: warning: {row['model']} on {row['runtime']}: p90 {row['p90_ms']:.3g} ms is "
                  f"{row['p90_ms'] / row['p50_ms']:.1f}x the p50 {row['p50_ms']:.3g} ms: the machine is busy or "
                  "throttling; compare medians measured in the same run, or re-run when it is quiet", file=sys.stderr)
    if args.grid:
        for row in rows:
            row["published_top1"] = published_top1(row["model"], row.get("width_mult"), row["resolution"])
    columns = list(BENCH_COLUMNS) + (["top1"] if args.val else []) + (["published_top1"] if args.grid else [])
    print(render(rows, columns, args.format))
    for source, _ in ([] if args.grid else cases):
        if source.random_weights:
            print(f"mobilenet bench: note: {source.name} {RANDOM_WEIGHTS_NOTE} (the latency is the same)",
                  file=sys.stderr)
    if args.csv:
        Path(args.csv).write_text(render(rows, columns, "csv") + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    if args.grid or args.plot:
        plot = args.plot or f"{args.models[0]}-pareto.png"
        pareto_plot(rows, plot, f"{', '.join(args.models)}: {args.runtime[0]} {args.precision[0]}, "
                                f"batch {args.batch_size[0]}, {args.threads[0]} threads")
        print(f"plot: {plot}")
    return 0


def top1(source: Any, runtime: str, precision: str, resolution: int, artifacts: Any, folder: str) -> float:
    from mobilenet.export.accuracy import onnx_accuracy, torch_accuracy

    if runtime == "torch":
        pre = source.preprocessing.at_resolution(resolution)
        return 100 * torch_accuracy(source.model, folder, pre, source.class_names).top1
    return 100 * onnx_accuracy(artifacts.onnx(source, resolution, precision), folder).top1
