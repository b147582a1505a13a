"""``mobilenet fit``: recommend a version, width and resolution for a latency (measured here),
multiply-add or parameter budget, with the table that led there."""

from __future__ import annotations

import argparse
from typing import Any

from mobilenet.cli.bench import int_list, str_list
from mobilenet.cli.tables import FORMATS, render


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("fit", help="pick a model for a latency / MACs / params budget", description=__doc__)
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--latency-ms", type=float, help="p50 latency budget, measured on this machine")
    budget.add_argument("--macs", type=float, help="multiply-add budget in millions")
    budget.add_argument("--params", type=float, help="parameter budget in millions")
    p.add_argument("--runtime", default="onnxruntime", choices=("torch", "onnxruntime", "openvino"))
    p.add_argument("--precision", default="fp32", choices=("fp32", "int8"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--versions", type=str_list, help="comma list of v1, v2, v3_large, v3_small (default: all)")
    p.add_argument("--resolutions", type=int_list, help="candidate input sizes (default: 224,192,160,128,96)")
    p.add_argument("--runs", type=int, default=20, help="timed runs per measured candidate")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.set_defaults(func=run_fit)


def run_fit(args: argparse.Namespace) -> int:
    import sys

    from mobilenet.export.fit import RESOLUTIONS, Budget, fit

    budget = Budget(args.latency_ms, args.macs, args.params)
    best, rows = fit(budget, args.versions, tuple(args.resolutions or RESOLUTIONS), args.runtime, args.precision,
                     args.threads, args.batch, args.runs, log=lambda line: print(line, file=sys.stderr))
    columns = ["family", "width_mult", "resolution", "macs_m", "params_m"]
    if budget.latency_ms is not None:
        columns += ["p50_ms", "p90_ms"]
    columns += ["fits", "recommended"]
    print(render(rows, columns, args.format))
    if best is None:
        raise ValueError("no candidate fits the budget; raise it or allow smaller --resolutions")
    if args.format == "table":
        print(f"\nrecommended: {best['family']} width_mult={best['width_mult']:g} resolution={best['resolution']} "
              f"({best['macs_m']:.0f}M MACs, {best['params_m']:.2f}M params"
              + (f", p50 {best['p50_ms']:.2f} ms on {args.runtime} {args.precision}, {args.threads} threads)"
                 if budget.latency_ms is not None else ")"))
    return 0
