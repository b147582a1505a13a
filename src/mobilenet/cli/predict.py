"""``mobilenet predict IMAGE... --weights W``: top classes with names and probabilities.

W is a weights record, a file in our format, a training checkpoint (``--checkpoint``), or a
peer's file with ``--model``. Images are prepared with the weights' own preprocessing; files
that are not readable images are skipped with a message.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import torch

from mobilenet.cli.convert import add_model_options, model_options
from mobilenet.data.images import load_images
from mobilenet.weights import build_model
from mobilenet.weights.records import Preprocessing

FALLBACK = Preprocessing(resolution=224, crop_pct=0.875)  # ImageNet-style, when a file records none


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("predict", help="classify images with pretrained or trained weights")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (JPEG, PNG, BMP, ...)")
    p.add_argument("--weights", help="a weights record, our .safetensors file, or a peer's file with --model")
    p.add_argument("--checkpoint", help="a training checkpoint (.pt), its run folder (best.pt), or our .safetensors")
    p.add_argument("--top", type=int, default=5, help="how many classes to show per image")
    p.add_argument("--json", action="store_true", help="print JSON for machines")
    add_model_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if bool(args.weights) == bool(args.checkpoint):
        raise ValueError("pass exactly one of --weights (record or file) and --checkpoint (training output)")
    if args.top < 1:
        raise ValueError(f"--top must be at least 1, got {args.top}")
    if args.checkpoint:
        from mobilenet.engine.checkpoint import resolve_path

        args.checkpoint = str(resolve_path(args.checkpoint, prefer="best.pt"))
    model = build_model(args.weights or args.checkpoint, args.model, args.cache_dir,
                        trusted=bool(args.checkpoint), **model_options(args))
    pre = getattr(model, "preprocessing", None)
    if not pre:
        print("note: the weights file records no preprocessing; using ImageNet mean/std, resize 256 / crop 224",
              file=sys.stderr)
        pre = {**FALLBACK.to_dict(), "resolution": model.resolution}
    pre = {**FALLBACK.to_dict(), **pre}
    names = list(getattr(model, "class_names", None) or [])
    batch = load_images(args.images, pre)
    for _, message in batch.skipped:
        print(f"skipped {message}", file=sys.stderr)
    if not batch.paths:
        raise ValueError("none of the images could be read")
    with torch.no_grad():
        probabilities = model(batch.tensor).softmax(-1)
    top = min(args.top, probabilities.shape[1])
    results = []
    for path, row in zip(batch.paths, probabilities):
        values, indices = row.topk(top)
        results.append({"image": path, "top": [
            {"index": int(i), "class": names[int(i)] if int(i) < len(names) else str(int(i)),
             "probability": round(float(v), 6)} for v, i in zip(values, indices)]})
    if args.json:
        print(json.dumps({"model": model.config, "results": results,
                          "skipped": [{"image": p, "reason": m} for p, m in batch.skipped]}, indent=2))
        return 0
    for result in results:
        print(result["image"])
        for entry in result["top"]:
            print(f"  {entry['probability']:7.3f}  {entry['index']:4d}  {entry['class']}")
    return 0
