"""``mobilenet convert SOURCE --to out.safetensors``: any supported weights into our format.

SOURCE is a weights record (downloaded and cached) or a local file: torchvision or timm
``state_dict`` files and Keras ``.h5``/``.keras`` need ``--model``; our own files, TFLite files and
training checkpoints know their model. The options the weights need (TF padding, BN epsilon)
are applied as ``mobilenet.create_model`` applies them.
"""

from __future__ import annotations

import argparse
from typing import Any

from mobilenet.cli.options import add_peer_options, deprecated_alias, peer_options
from mobilenet.weights import format as our_format
from mobilenet.weights.records import RECORDS


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("convert", help="convert torchvision/timm/Keras/TFLite weights into our safetensors format",
                              description=__doc__)
    p.add_argument("source", metavar="SOURCE",
                   help="a weights record (`mobilenet weights list`), a local weights file, or a checkpoint")
    p.add_argument("-o", "--output", help="output file, e.g. mobilenet_v2.safetensors (+ .json beside it)")
    deprecated_alias(p, "--to", "output", "-o/--output")
    p.add_argument("--model", help="our model name for a peer's file that does not name it (see `mobilenet list`)")
    p.add_argument("--num-classes", type=int, help="put a new head with this many classes on the weights")
    p.add_argument("--resolution", type=int, help="the input size recorded with the weights (default: theirs)")
    add_peer_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mobilenet.factory import create_model

    if not args.output:
        raise ValueError("give the output file: -o NAME.safetensors")
    options = peer_options(args)
    if args.source in RECORDS and options:
        raise ValueError(f"{args.source!r} is a record: its options are fixed; drop {', '.join(options)}")
    if args.num_classes is not None:
        options["num_classes"] = args.num_classes
    model = create_model(args.model, weights=args.source, cache_dir=args.cache_dir, **options)
    pre = model.preprocessing
    if args.resolution:
        model._check_size(args.resolution, "resolution")
        pre = pre.at_resolution(args.resolution)
    source = ({"record": args.source, "url": RECORDS[args.source].url} if args.source in RECORDS
              else {"file": str(args.source)})
    out = our_format.save(model, args.output, pre, getattr(model, "class_names", None) or None, source)
    print(f"wrote {out} and {our_format.config_path(out)}: {model.config.name} "
          f"({sum(t.numel() for t in model.state_dict().values()):,} values, input {pre.resolution}x{pre.resolution})")
    return 0
