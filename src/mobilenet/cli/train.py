"""``mobilenet train``: train or fine-tune a classifier on an image folder or the embedded digits.

Every setting of ``TrainConfig`` is a flag (``--batch-size``, ``--ema-decay``, ...), generated from
the dataclass so that the recipe files, the flags and the Python API never drift apart. Flags
override the recipe; the recipe overrides the defaults.
"""

from __future__ import annotations

import argparse
import inspect
import re
from dataclasses import MISSING, fields
from typing import Any, get_type_hints

from mobilenet.engine import config as config_module
from mobilenet.engine.config import TrainConfig, resolve_config
from mobilenet.recipes import list_recipes

# Flags written by hand (positional meaning or special handling); every other field is generated.
SKIP = ("extra",)


def _comments() -> dict[str, str]:
    """The commented defaults of ``TrainConfig`` become the flags' help."""
    source = inspect.getsource(config_module.TrainConfig)
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"^\s+(\w+):[^#\n]*#\s*(.*)$", source, re.M)}


def _parse_type(hint: Any) -> Any:
    text = str(hint)
    for name, kind in (("bool", bool), ("int", int), ("float", float)):
        if re.search(rf"\b{name}\b", text):
            return kind
    return str


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per ``TrainConfig`` field, default None (= not given: the recipe decides)."""
    hints = get_type_hints(TrainConfig)
    comments = _comments()
    for field in fields(TrainConfig):
        if field.name in SKIP:
            continue
        flag = "--" + field.name.replace("_", "-")
        kind = _parse_type(hints[field.name])
        default = field.default if field.default is not MISSING else None
        help_text = f"{comments.get(field.name, '')} (default: {default})".replace("%", "%%")
        flags = ("-o", flag) if field.name == "output" else (flag,)  # -o/--output, as in every command
        if kind is bool:
            parser.add_argument(*flags, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            parser.add_argument(*flags, type=kind, default=None, help=help_text,
                                metavar=field.name.upper() if kind is str else None)


def given_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line (flags not given are None)."""
    return {f.name: getattr(args, f.name) for f in fields(TrainConfig)
            if f.name not in SKIP and getattr(args, f.name) is not None}


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return resolve_config(args.recipe, **given_flags(args))


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "train", help="train or fine-tune a classifier on an image folder (default: the embedded digits)",
        description="Train a MobileNet classifier. --data DIR takes root/train/<class>/ + root/val/<class>/ "
                    "or root/<class>/ (split by a seeded stratified split); no --data or --data digits uses "
                    "the embedded handwritten digits. Under torchrun the same command trains with DDP.")
    p.add_argument("--recipe", help=f"YAML recipe: a path, or a shipped one ({', '.join(list_recipes())})")
    p.add_argument("--resume", metavar="RUN_OR_CKPT", help="continue an interrupted run exactly (run folder or last.pt)")
    add_config_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mobilenet.engine.trainer import train  # imported late: `mobilenet --help` stays fast

    if args.resume:
        if args.recipe:
            raise ValueError("a resumed run keeps its own settings; drop --recipe")
        result = train(resume=args.resume, overrides=given_flags(args))
    else:
        result = train(config_from_args(args))
    if result.interrupted:
        return 128 + (result.signal or 2)
    if result.is_main:
        print(f"best val {result.primary} {result.best_score:.4f}; checkpoints: {result.run_dir / 'best.pt'}, "
              f"{result.run_dir / 'last.pt'}")
    return 0
