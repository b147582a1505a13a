"""``mobilenet list``, ``info``, ``conv-cost`` and ``table``: the models and what they cost."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from mobilenet.cli.tables import FORMATS, render
from mobilenet.cost import conv_cost, profile
from mobilenet.cost.published import PUBLISHED
from mobilenet.models.registry import CONVENTIONS, MODELS, build_model as create_model, list_models

LAYER_COLUMNS = ("layer", "kind", "input_shape", "output_shape", "params", "macs")


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("list", help="list the registered models")
    p.add_argument("pattern", nargs="?", default="*", help="shell pattern, e.g. 'mobilenet_v3_*'")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.set_defaults(func=run_list)

    p = subparsers.add_parser("info", help="per-layer params and multiply-adds of a model")
    p.add_argument("model", help="a registered name (see `mobilenet list`)")
    p.add_argument("--width-mult", type=float, help="width multiplier alpha (default: the name's)")
    p.add_argument("--resolution", type=int, help="input size (default: the model's, 224)")
    p.add_argument("--convention", choices=tuple(CONVENTIONS), help="paper (default) or torchvision")
    p.add_argument("--output-stride", type=int, choices=(8, 16, 32), help="default: the model's (32; 16 for segmenters)")
    p.add_argument("--num-classes", type=int, help="default: the model's (1000 for classifiers, 21 for segmenters)")
    p.add_argument("--as-standard-conv", action="store_true",
                   help="count depthwise separable convs as standard convs (V1 paper Table 4)")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.set_defaults(func=run_info)

    p = subparsers.add_parser("conv-cost", help="standard vs depthwise separable conv (V1 paper §3.1)")
    p.add_argument("--in", dest="in_channels", type=int, required=True, help="input channels M")
    p.add_argument("--out", dest="out_channels", type=int, required=True, help="output channels N")
    p.add_argument("--kernel", type=int, default=3, help="kernel size K")
    p.add_argument("--size", type=int, required=True, help="output feature map size F")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.set_defaults(func=run_conv_cost)

    p = subparsers.add_parser("table", help="every model's params and MACs beside the papers' figures")
    p.add_argument("--format", choices=FORMATS, default="markdown")
    p.add_argument("--update", metavar="README", help="rewrite the table between the README's markers")
    p.set_defaults(func=run_table)


def run_list(args: argparse.Namespace) -> int:
    names = list_models(args.pattern)
    if not names:
        raise ValueError(f"no model matches {args.pattern!r}; valid: {', '.join(list_models())}")
    rows = []
    for name in names:
        with torch.device("meta"):
            model = create_model(name)
        cost = profile(model)
        paper = getattr(model, "paper", None) or model.spec.paper  # task models name their head's paper
        rows.append({"model": name, "paper": paper, "width_mult": model.width_mult,
                     "resolution": model.resolution, "params": cost.params, "macs": cost.macs})
    print(render(rows, ("model", "paper", "width_mult", "resolution", "params", "macs"), args.format))
    return 0


def run_info(args: argparse.Namespace) -> int:
    given = {"convention": args.convention, "output_stride": args.output_stride, "num_classes": args.num_classes,
             "width_mult": args.width_mult, "resolution": args.resolution}
    overrides: dict[str, Any] = {k: v for k, v in given.items() if v is not None}  # else the model's own
    with torch.device("meta"):  # the cost comes from the spec: no weights are allocated
        model = create_model(args.model, **overrides)
    cost = profile(model, as_standard_conv=args.as_standard_conv)
    rows = [asdict(row) for row in cost.layers]
    totals = {"model": args.model, "width_mult": model.width_mult, "resolution": cost.resolution,
              "params": cost.params, "params_with_bn": cost.params_with_bn, "macs": cost.macs,
              "as_standard_conv": args.as_standard_conv}
    if args.format == "json":
        print(json.dumps({**totals, "layers": rows}, indent=2))
        return 0
    print(render(rows, LAYER_COLUMNS, args.format))
    if args.format in ("table", "markdown"):
        print()
        print(f"{args.model} at width {model.width_mult:g}, {cost.resolution}x{cost.resolution}"
              f"{' as standard convs' if args.as_standard_conv else ''}: "
              f"{cost.macs / 1e6:,.1f}M multiply-adds, {cost.params / 1e6:.3f}M params "
              f"({cost.params_with_bn / 1e6:.3f}M with BN)")
    return 0


def run_conv_cost(args: argparse.Namespace) -> int:
    cost = conv_cost(args.in_channels, args.out_channels, args.kernel, args.size)
    k, m, n, f = cost.kernel, cost.in_channels, cost.out_channels, cost.size
    rows = [
        {"layer": "standard", "formula": f"{k}*{k}*{m}*{n}*{f}*{f}", "params": cost.standard_params,
         "macs": cost.standard_macs},
        {"layer": "depthwise separable", "formula": f"{k}*{k}*{m}*{f}*{f} + {m}*{n}*{f}*{f}",
         "params": cost.separable_params, "macs": cost.separable_macs},
    ]
    if args.format == "json":
        print(json.dumps({"rows": rows, "ratio": cost.ratio, "expected_ratio": 1 / n + 1 / k**2}, indent=2))
        return 0
    print(render(rows, ("layer", "formula", "params", "macs"), args.format))
    if args.format in ("table", "markdown"):
        print(f"\nratio {cost.ratio:.4f} = 1/N + 1/K^2 = 1/{n} + 1/{k * k}: "
              f"{1 / cost.ratio:.1f}x fewer multiply-adds")
    return 0


def size_key(point: tuple[str, Any]) -> tuple[str, tuple[int, ...]]:
    """Sort key of a (model, resolution) point; a resolution is a size or (height, width)."""
    name, resolution = point
    return name, (resolution, resolution) if isinstance(resolution, int) else tuple(resolution)


def model_table() -> list[dict[str, Any]]:
    """Every registered model at its nominal resolution, plus the published grid points."""
    with torch.device("meta"):  # costs come from the specs: no weights are allocated
        points = sorted({(name, create_model(name).resolution) for name in MODELS} | set(PUBLISHED), key=size_key)
        models = {point: create_model(point[0], resolution=point[1]) for point in points}
    rows = []
    for (name, resolution), model in models.items():
        cost = profile(model)
        macs, params, source = PUBLISHED.get((name, resolution), (None, None, ""))
        rows.append({
            "model": name, "resolution": resolution,
            "MACs (M)": round(cost.macs / 1e6, 1), "paper MACs (M)": macs,
            "params (M)": round(cost.params / 1e6, 3), "paper params (M)": params,
            "source": source,
        })
    return rows


TABLE_COLUMNS = ("model", "resolution", "MACs (M)", "paper MACs (M)", "params (M)", "paper params (M)", "source")


TABLE_START, TABLE_END = "<!-- table:models -->", "<!-- /table:models -->"


def replace_table(text: str, table: str) -> str:
    """``text`` with the part between the table markers replaced by ``table``."""
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    if start < 0 or end < start:
        raise ValueError(f"the README has no {TABLE_START} ... {TABLE_END} markers to update")
    return text[: start + len(TABLE_START)] + "\n" + table + "\n" + text[end:]


def run_table(args: argparse.Namespace) -> int:
    table = render(model_table(), TABLE_COLUMNS, args.format)
    if args.update is None:
        print(table)
        return 0
    path = Path(args.update)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; give the README to update")
    path.write_text(replace_table(path.read_text(), table))
    print(f"updated the model table in {path}")
    return 0
