"""``mobilenet convert SOURCE --to out.safetensors``: any supported weights into our format.

SOURCE is a weights record (downloaded and cached) or a local file: torchvision or timm
``state_dict`` files and Keras ``.h5``/``.keras`` need ``--model``; our own files and training
checkpoints know their model.
"""

from __future__ import annotations

import argparse
from typing import Any

from mobilenet.models.registry import CONVENTIONS
from mobilenet.layers.conv import PADDING_MODES
from mobilenet.weights import build_model
from mobilenet.weights import format as our_format
from mobilenet.weights.records import RECORDS


def add_model_options(p: argparse.ArgumentParser) -> None:
    """``--model`` and the options a peer's raw file may need (shared with ``predict``)."""
    p.add_argument("--model", help="our model name for a peer's file (see `mobilenet list`)")
    p.add_argument("--padding", choices=PADDING_MODES,
                   help="override the padding (tf_same for timm tf_* files; Keras files choose it)")
    p.add_argument("--bn-eps", type=float, help="batch-norm epsilon (1e-5 for timm mobilenetv3_*)")
    p.add_argument("--convention", choices=tuple(CONVENTIONS), help="V3 channel convention")
    p.add_argument("--num-classes", type=int, help="classes of the file's classifier (default 1000)")
    p.add_argument("--cache-dir", help="cache folder (default: $MOBILENET_CACHE or ~/.cache/mobilenet)")


def model_options(args: argparse.Namespace) -> dict[str, Any]:
    names = {"padding": args.padding, "bn_eps": args.bn_eps, "convention": args.convention,
             "num_classes": args.num_classes}
    return {k: v for k, v in names.items() if v is not None}


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("convert", help="convert torchvision/timm/Keras weights into our safetensors format")
    p.add_argument("source", help="a weights record (`mobilenet weights list`) or a local file")
    p.add_argument("--to", required=True, help="output file, e.g. mobilenet_v2.safetensors (+ .json beside it)")
    add_model_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    options = model_options(args)
    if args.source in RECORDS and options:
        raise ValueError(f"{args.source!r} is a record: its options are fixed; drop {', '.join(options)}")
    model = build_model(args.source, args.model, args.cache_dir, **options)
    source = ({"record": args.source, "url": RECORDS[args.source].url} if args.source in RECORDS
              else {"file": str(args.source)})
    out = our_format.save(model, args.to, getattr(model, "preprocessing", None),
                          getattr(model, "class_names", None) or None, source)
    print(f"wrote {out} and {our_format.config_path(out)}: {model.config['name']} "
          f"({sum(t.numel() for t in model.state_dict().values()):,} values)")
    if not getattr(model, "preprocessing", None):
        print("note: the source file records no preprocessing; predict will assume ImageNet mean/std, "
              "resize 256 / crop 224")
    return 0
