"""Options shared by the commands: one vocabulary for the model source, output and format.

Every command that runs a model takes a positional MODEL (a registered name, a weights record,
our ``.safetensors``, a training checkpoint or run folder) with ``--weights`` and ``--resolution``;
old spellings stay as deprecated aliases for one release and say so on stderr.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence

from mobilenet.layers.conv import PADDING_MODES
from mobilenet.models.registry import CONVENTIONS

MODEL_HELP = ("a registered name (with --weights, else random weights), a weights record, our .safetensors "
              "file, a training checkpoint (.pt) or run folder")


def add_model_source(parser: argparse.ArgumentParser, required: bool = True, help: str = MODEL_HELP) -> None:
    """Positional MODEL, ``--weights``, ``--resolution`` and the options a peer's raw file may need."""
    parser.add_argument("model", nargs=None if required else "?", metavar="MODEL", help=help)
    parser.add_argument("--weights", metavar="RECORD_OR_FILE",
                        help="weights for a registered name: a record (`mobilenet weights list`) or a file")
    parser.add_argument("--resolution", type=int, help="input size (default: the weights' or model's)")
    add_peer_options(parser)


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="where the model runs (default: auto, a GPU when there is one)")


def add_peer_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("options for peers' raw weight files (records and our files set them)")
    group.add_argument("--padding", choices=PADDING_MODES,
                       help="padding the weights need (tf_same for timm tf_* files; Keras files set it)")
    group.add_argument("--bn-eps", type=float, help="batch-norm epsilon (1e-5 for timm mobilenetv3_*)")
    group.add_argument("--convention", choices=tuple(CONVENTIONS), help="V3 channel convention")
    group.add_argument("--cache-dir", help="weights cache folder (default: $MOBILENET_CACHE or ~/.cache/mobilenet)")


def peer_options(args: argparse.Namespace) -> dict[str, Any]:
    names = {"padding": getattr(args, "padding", None), "bn_eps": getattr(args, "bn_eps", None),
             "convention": getattr(args, "convention", None)}
    return {k: v for k, v in names.items() if v is not None}


def model_source_args(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of ``mobilenet.sources.open_source`` from the parsed flags."""
    return {"source": args.model, "weights": args.weights, "resolution": args.resolution,
            "cache_dir": getattr(args, "cache_dir", None), **peer_options(args)}


ALIAS_PREFIX = "_alias__"


class DeprecatedAlias(argparse.Action):
    """Stores (its value, or ``const`` for a flag without value) for ``apply_aliases`` and says
    which spelling to use instead."""

    def __init__(self, option_strings: Sequence[str], dest: str, replacement: str = "", **kwargs: Any) -> None:
        self.replacement = replacement
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(f"{parser.prog}: note: {option_string} is deprecated and will be removed; use {self.replacement}",
              file=sys.stderr)
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)


def deprecated_alias(parser: argparse.ArgumentParser, flag: str, dest: str, replacement: str,
                     const: Any = None, **kwargs: Any) -> None:
    """``flag`` keeps working for one release and sets ``dest`` (to ``const`` when it takes no
    value), with a note on stderr naming ``replacement``."""
    if const is not None:
        kwargs.update(nargs=0, const=const)
    parser.add_argument(flag, dest=ALIAS_PREFIX + dest, action=DeprecatedAlias, replacement=replacement,
                        default=None, help=argparse.SUPPRESS, **kwargs)


def apply_aliases(args: argparse.Namespace) -> argparse.Namespace:
    """Copy what deprecated spellings stored into their new destinations."""
    for key, value in list(vars(args).items()):
        if key.startswith(ALIAS_PREFIX):
            delattr(args, key)
            if value is not None:
                setattr(args, key.removeprefix(ALIAS_PREFIX), value)
    return args
