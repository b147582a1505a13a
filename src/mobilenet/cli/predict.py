"""``mobilenet predict MODEL IMAGE_OR_FOLDER...``: what a model sees in images.

MODEL is any model source (a registered name with ``--weights``, a weights record, our
``.safetensors``, a TFLite file, a training checkpoint or run folder) or an exported ``.onnx`` file
(float or INT8; run with onnxruntime, fed with the preprocessing stored in it). Images are
prepared with the model's own preprocessing; folders are searched for images; files that are not
readable images are skipped with a message on stderr. Classifiers print their top classes; detectors
print their boxes above ``--threshold`` (pixels of the original image) and draw them with ``-o DIR``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

from mobilenet.cli.options import add_device, add_peer_options, deprecated_alias, peer_options
from mobilenet.cli.tables import FORMATS

MODEL_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt", ".h5", ".keras", ".tflite", ".onnx")


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("predict", help="run a model on images (classes, boxes or masks)", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="MODEL IMAGE", help="the model, then image files or folders")
    p.add_argument("--weights", metavar="RECORD_OR_FILE", help="weights for a registered model name")
    p.add_argument("--resolution", type=int, help="input size (default: the weights' or model's)")
    p.add_argument("--top", type=int, default=5, help="classification: classes shown per image (default: 5)")
    p.add_argument("--threshold", type=float, default=0.3, help="detection: lowest score shown (default: 0.3)")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    p.add_argument("-o", "--output", metavar="DIR", help="write drawn results (boxes, masks) to this folder")
    add_device(p)
    deprecated_alias(p, "--checkpoint", "checkpoint", "MODEL (the first positional argument)")
    deprecated_alias(p, "--json", "format", "--format json", const="json")
    deprecated_alias(p, "--model", "model_name", "MODEL (the first positional argument) with --weights")
    add_peer_options(p)
    p.set_defaults(func=run, checkpoint=None, model_name=None)


def looks_like_model(text: str) -> bool:
    """A registered name, a weights record, a model file or a run folder (not an image)."""
    from mobilenet.models.registry import MODELS
    from mobilenet.weights.records import RECORDS

    path = Path(text)
    return (text in MODELS or text in RECORDS or path.suffix.lower() in MODEL_SUFFIXES
            or (path.is_dir() and any((path / name).is_file() for name in ("best.pt", "last.pt"))))


def split_inputs(args: argparse.Namespace) -> tuple[str, list[str]]:
    """(model source, images) from the positionals, or the old form ``IMAGE... --weights/--checkpoint``."""
    old = args.checkpoint or args.model_name or (args.weights and not looks_like_model(args.inputs[0]))
    if old:
        if args.checkpoint and args.weights:
            raise ValueError("pass the model once: MODEL IMAGE... (with --weights for a registered name)")
        if args.model_name:
            return args.model_name, list(args.inputs)
        source, args.weights = args.checkpoint or args.weights, None
        print("mobilenet predict: note: IMAGE... --weights/--checkpoint X is deprecated; use: mobilenet predict "
              "X IMAGE...", file=sys.stderr)
        return source, list(args.inputs)
    if len(args.inputs) < 2:
        raise ValueError("give the model and at least one image: mobilenet predict MODEL IMAGE...")
    return args.inputs[0], list(args.inputs[1:])


def expand_images(items: list[str]) -> list[str]:
    """Image files as given; folders replaced by the images under them (sorted)."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    out: list[str] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(str(p) for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS)
            if not found:
                print(f"skipped {item}: a folder without images", file=sys.stderr)
            out += found
        else:
            out.append(item)
    return out


def run(args: argparse.Namespace) -> int:
    from mobilenet.data.images import load_images, open_rgb
    from mobilenet.tasks import get_task
    from mobilenet.tasks.base import PredictOptions

    if args.top < 1:
        raise ValueError(f"--top must be at least 1, got {args.top}")
    if not 0.0 <= args.threshold <= 1.0:
        raise ValueError(f"--threshold must be in [0, 1], got {args.threshold}")
    source_name, images = split_inputs(args)
    images = expand_images(images)
    if source_name.endswith(".onnx"):
        runner, pre, names, config = onnx_model(source_name, args.resolution)
    else:
        runner, pre, names, config = torch_model(source_name, args)
    task = get_task(config.get("task", "classification"))
    batch = load_images(images, pre)
    for _, message in batch.skipped:
        print(f"skipped {message}", file=sys.stderr)
    if not batch.paths:
        raise ValueError("none of the images could be read")
    outputs = runner(batch.tensor)
    if not all(torch.isfinite(t.float()).all() for t in outputs):
        raise ValueError(f"{source_name} gives non-finite outputs (NaN or inf): its weights are broken")
    sizes = tuple(image_size(path) for path in batch.paths)
    results = task.predict(outputs, names, PredictOptions(top=args.top, threshold=args.threshold, image_sizes=sizes))
    for path, result in zip(batch.paths, results):
        result["image"] = path
        if args.output:
            folder = Path(args.output)
            folder.mkdir(parents=True, exist_ok=True)
            task.draw(open_rgb(path), result, folder / (Path(path).stem + ".png"))
    if args.format == "json":
        shown = [{k: v for k, v in r.items() if not k.startswith("_")} for r in results]  # "_" keys: for draw()
        print(json.dumps({"model": config, "results": shown,
                          "skipped": [{"image": p, "reason": m} for p, m in batch.skipped]}, indent=2))
        return 0
    for result in results:
        print(result["image"])
        for line in task.describe(result):
            print(line)
    return 0


def image_size(path: str) -> tuple[int, int]:
    """(width, height) of an image file, from its header."""
    from PIL import Image

    with Image.open(path) as image:
        return image.size


def torch_model(source_name: str, args: argparse.Namespace) -> tuple[Any, Any, list[str], dict[str, Any]]:
    from mobilenet.sources import RANDOM_WEIGHTS_NOTE, open_source

    source = open_source(source_name, weights=args.weights, resolution=args.resolution,
                         cache_dir=args.cache_dir, **peer_options(args))
    if source.random_weights:
        print(f"mobilenet predict: note: {source_name} {RANDOM_WEIGHTS_NOTE}", file=sys.stderr)
    from mobilenet.engine.distributed import pick_device

    device = pick_device(args.device)
    model = source.model.to(device)

    def run(x: torch.Tensor) -> list[torch.Tensor]:
        with torch.no_grad():
            outputs = model(x.to(device))
        return [t.cpu() for t in ([outputs] if isinstance(outputs, torch.Tensor) else outputs)]

    return run, source.preprocessing, source.class_names, model.config.to_dict()


def onnx_model(path: str, resolution: int | None) -> tuple[Any, Any, list[str], dict[str, Any]]:
    from mobilenet.data.preprocessing import Preprocessing
    from mobilenet.export.onnx import OnnxModel

    model = OnnxModel(path)
    if "preprocessing" not in model.metadata:
        raise ValueError(f"{path!r} has no mobilenet metadata (preprocessing); export it with `mobilenet export`")
    pre = Preprocessing.from_dict(model.metadata["preprocessing"])
    if resolution:
        pre = pre.at_resolution(resolution)

    def run(x: torch.Tensor) -> list[torch.Tensor]:
        outputs = model(x)
        return [outputs] if isinstance(outputs, torch.Tensor) else list(outputs)

    config = dict(model.metadata.get("config") or {})
    config.setdefault("task", model.metadata.get("task", "classification"))
    return run, pre, list(model.metadata.get("class_names") or []), config
