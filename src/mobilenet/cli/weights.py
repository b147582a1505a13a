"""``mobilenet weights list`` and ``mobilenet weights info``: the known pretrained checkpoints."""

from __future__ import annotations

import argparse
import functools
import json
from dataclasses import asdict
from typing import Any

from mobilenet.cli.tables import FORMATS, render
from mobilenet.cost import profile
from mobilenet.models.registry import build_model
from mobilenet.weights.download import cache_dir, cached_path
from mobilenet.weights.records import get_record, list_records

COLUMNS = ("name", "model", "options", "resolution", "top1", "params", "macs", "cached", "loadable")


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("weights", help="pretrained weights records (list, info)")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    q = actions.add_parser("list", help="list the weights records")
    q.add_argument("pattern", nargs="?", default="*", help="shell pattern, e.g. 'keras/*' or '*v3_small*'")
    q.add_argument("--source", choices=("torchvision", "timm", "keras"))
    q.add_argument("--format", choices=FORMATS, default="table")
    q.add_argument("--cache-dir", help="cache folder (default: $MOBILENET_CACHE or ~/.cache/mobilenet)")
    q.set_defaults(func=run_list)

    q = actions.add_parser("info", help="everything a record says, and where its file goes")
    q.add_argument("name", help="a record name (see `mobilenet weights list`)")
    q.add_argument("--cache-dir", help="cache folder (default: $MOBILENET_CACHE or ~/.cache/mobilenet)")
    q.set_defaults(func=run_info)


def _options(options: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in options.items() if k != "resolution")


def run_list(args: argparse.Namespace) -> int:
    records = list_records(args.pattern, args.source)
    if not records:
        raise ValueError(f"no weights record matches {args.pattern!r}"
                         f"{f' from {args.source}' if args.source else ''}; try `mobilenet weights list`")
    rows = []
    for record in records:
        cost = record_cost(record.name)
        rows.append({"name": record.name, "model": record.model, "options": _options(record.options),
                     "resolution": record.preprocessing.resolution,
                     "top1": (record.accuracy or {}).get("top1"), "params": cost["params_with_bn"],
                     "macs": cost["macs"], "cached": cached_path(record, args.cache_dir).is_file(),
                     "loadable": record.unsupported is None, "unsupported": record.unsupported})
    print(render(rows, COLUMNS + (("unsupported",) if args.format == "json" else ()), args.format))
    if args.format == "table":
        print(f"\nparams with BN, MACs at the record's resolution (computed by our profile); "
              f"cache: {cache_dir(args.cache_dir)}; why a record is not loadable: `mobilenet weights info NAME`")
    return 0


def run_info(args: argparse.Namespace) -> int:
    record = get_record(args.name)
    info = asdict(record)
    info["preprocessing"] = record.preprocessing.to_dict()
    info["create_model"] = {"name": record.model, **record.create_options()}
    info["cost"] = record_cost(record.name)
    info["cache_path"] = str(cached_path(record, args.cache_dir))
    print(json.dumps(info, indent=2))
    return 0


@functools.lru_cache(maxsize=None)
def record_cost(name: str) -> dict[str, int]:
    """Params (with and without BN) and multiply-adds of a record's model at its resolution."""
    record = get_record(name)
    model = build_model(record.model, **record.create_options())
    cost = profile(model, record.preprocessing.resolution)
    return {"params": cost.params, "params_with_bn": cost.params_with_bn, "macs": cost.macs}
