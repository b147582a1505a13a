"""``mobilenet fit``: recommend a model, width and resolution for a latency (measured here),
multiply-add or parameter budget, with the table that led there: every family (V1 to V4), the
published ImageNet top-1 of each candidate and whether pretrained weights exist for it. With a
model and ``--weights``, the largest input size at which that model fits the budget."""

from __future__ import annotations

import argparse
from typing import Any

from mobilenet.cli.bench import int_list, str_list
from mobilenet.cli.options import deprecated_alias
from mobilenet.cli.tables import FORMATS, render


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("fit", help="pick a model for a latency / MACs / params budget", description=__doc__)
    p.add_argument("model", nargs="?", metavar="MODEL",
                   help="only this model (with --weights, or a weights file/record/checkpoint); default: every family")
    p.add_argument("--weights", metavar="RECORD_OR_FILE", help="weights for MODEL")
    p.add_argument("--calib", help="calibration images for int8 (default: synthetic, latency only)")
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--latency-ms", type=float, help="p50 latency budget, measured on this machine")
    budget.add_argument("--macs", type=float, help="multiply-add budget in millions")
    budget.add_argument("--params", type=float, help="parameter budget in millions")
    p.add_argument("--runtime", default="onnxruntime", help="runtime to measure on (default: onnxruntime)")
    p.add_argument("--precision", default="fp32", choices=("fp32", "int8"), help="default: fp32")
    p.add_argument("--threads", type=int, default=2, help="default: 2")
    p.add_argument("--batch-size", type=int, default=1, help="default: 1")
    deprecated_alias(p, "--batch", "batch_size", "--batch-size", type=int)
    p.add_argument("--versions", type=str_list, help="comma list of v1, v2, v3_large, v3_small, v4 (default: all)")
    p.add_argument("--resolutions", type=int_list, help="candidate input sizes (default: 224,192,160,128,96)")
    p.add_argument("--runs", type=int, default=20, help="timed runs per measured candidate (default: 20)")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    p.set_defaults(func=run_fit)


def run_fit(args: argparse.Namespace) -> int:
    import sys

    from mobilenet.export.fit import RESOLUTIONS, Budget, fit

    from mobilenet.export.runtimes import get_runtime

    budget = Budget(args.latency_ms, args.macs, args.params)
    get_runtime(args.runtime)
    best, rows = fit(budget, args.versions, tuple(args.resolutions or RESOLUTIONS), args.runtime, args.precision,
                     args.threads, args.batch_size, args.runs, weights=args.weights, model=args.model, calib=args.calib,
                     log=lambda line: print(line, file=sys.stderr))
    columns = ["model", "width_mult", "resolution", "macs_m", "params_m", "top1"]
    if budget.latency_ms is not None:
        columns += ["p50_ms", "p90_ms"]
    columns += ["weights", "fits", "recommended"]
    print(render(rows, columns, args.format))
    if best is None:
        raise ValueError("no candidate fits the budget; raise it or allow smaller --resolutions")
    if args.format == "table":
        top1 = f", {best['top1']}% top-1 ({best['top1_source']})" if best["top1"] is not None else ""
        weights = f"; weights: {best['weights']}" if best["weights"] else "; no pretrained weights"
        print(f"\nrecommended: {best['model']} width_mult={best['width_mult']:g} resolution={best['resolution']} "
              f"({best['macs_m']:.0f}M MACs, {best['params_m']:.2f}M params{top1}"
              + (f", p50 {best['p50_ms']:.2f} ms on {args.runtime} {args.precision}, {args.threads} threads)"
                 if budget.latency_ms is not None else ")") + weights)
    return 0
