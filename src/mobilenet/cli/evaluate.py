"""``mobilenet eval MODEL [--data DIR]``: the task's metrics of a trained model on labelled images.

MODEL is a training checkpoint or run folder (its ``best.pt``), our ``.safetensors`` file, an exported
``.onnx``/``.tflite``/``.pte`` file (run by onnxruntime, LiteRT, ExecuTorch), or a
registered name with ``--weights``. Classification reports top-1/top-5, per-class accuracy and the
confusion matrix; detection and segmentation report their own metrics. Messages go to stderr,
so ``--format json`` prints valid JSON only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mobilenet.cli.options import add_device, add_model_source, deprecated_alias, model_source_args
from mobilenet.cli.tables import FORMATS, render


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("eval", help="evaluate a trained model on labelled images",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_source(p, required=False)
    deprecated_alias(p, "--checkpoint", "model", "MODEL (positional)")
    p.add_argument("--data", default=None,
                   help="labelled images; default: the run's own validation images (classification: a folder of "
                        "class folders, or 'digits')")
    p.add_argument("--batch-size", type=int, default=64, help="images per batch (default: 64)")
    p.add_argument("--workers", type=int, default=-1, help="DataLoader workers (default: -1, sized for the machine)")
    p.add_argument("--plots", metavar="DIR", help="also write the task's plots (e.g. confusion.png) to DIR")
    p.add_argument("--confusion-png", help=argparse.SUPPRESS)
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    add_device(p)
    p.set_defaults(func=run)


EXPORTED = {".onnx": "onnxruntime", ".tflite": "litert", ".pte": "executorch"}
"""Exported files ``eval`` runs, by suffix, and the runtime that runs each."""


def exported_source(path: str, resolution: int | None) -> tuple[Any, str]:
    """An exported ``.onnx``, ``.tflite`` or ``.pte`` file (float or INT8) as a model source, run by its
    runtime, with its metadata's preprocessing, class names and task."""
    from mobilenet.data.preprocessing import Preprocessing
    from mobilenet.sources import ModelSource

    runtime = EXPORTED[Path(path).suffix.lower()]
    if runtime == "onnxruntime":
        from mobilenet.export.onnx import OnnxModel

        model: Any = OnnxModel(path)
    else:
        from mobilenet.export.edge import EdgeModel

        model = EdgeModel(runtime, path)  # the runtime's loader names its extra when it is missing
    if "preprocessing" not in model.metadata:
        raise ValueError(f"{path!r} has no mobilenet metadata (preprocessing); export it with `mobilenet export`")
    pre = Preprocessing.from_dict(model.metadata["preprocessing"])
    pre = pre.at_resolution(resolution) if resolution else pre
    source = ModelSource(model, Path(path).stem, pre, list(model.metadata.get("class_names") or []), runtime)
    return source, str(model.metadata.get("task", "classification"))


def run(args: argparse.Namespace) -> int:
    from mobilenet.data.pipeline import AugmentedDataset, EpochSampler, collate, default_workers, make_loader
    from mobilenet.engine.distributed import DistContext, pick_device
    from mobilenet.engine.evaluate import evaluate
    from mobilenet.sources import open_source
    from mobilenet.tasks import get_task

    from mobilenet.extras import pyplot

    if args.batch_size <= 0:
        raise ValueError(f"--batch-size must be > 0, got {args.batch_size}")
    if args.plots or args.confusion_png:
        pyplot("--plots")  # before evaluating: missing matplotlib fails early
    if not args.model:
        raise ValueError("give the model to evaluate (a run folder, checkpoint, .safetensors file, or a name "
                         "with --weights)")
    if Path(args.model).suffix.lower() in EXPORTED:
        source, task_name = exported_source(args.model, args.resolution)
    else:
        source = open_source(**model_source_args(args))
        task_name = source.model.config.task
    task = get_task(task_name)
    if not source.class_names:
        raise ValueError(f"{args.model!r} records no class names, so its outputs cannot be matched to labelled "
                         "images; evaluate a trained checkpoint or our .safetensors file")
    dataset = task.eval_dataset(args.data, source.class_names, source.checkpoint)
    workers = default_workers(bool(getattr(dataset, "in_memory", False))) if args.workers < 0 else args.workers
    loader = make_loader(AugmentedDataset(dataset, task.eval_transform(source.preprocessing)),
                         EpochSampler(len(dataset), False, pad=False), args.batch_size, workers, drop_last=False,
                         collate_fn=lambda batch: collate(batch, task.stack_targets))
    device = pick_device(args.device)
    result = evaluate(task, source.model.to(device), loader, source.class_names, DistContext(device=device))
    if result.skipped:
        print(f"warning: skipped {len(result.skipped)} unreadable image(s); first: "
              f"{dataset.describe(result.skipped[0])}", file=sys.stderr)
    data = args.data if args.data is not None else (source.checkpoint or {}).get("config", {}).get("data")
    rows = [{"class": name, result.primary: value} for name, value in result.per_class.items()]
    summary = {"model": args.model, "data": str(data), "images": result.count, **result.metrics,
               **{k: v for k, v in result.details.items() if k == "confusion"}}
    if args.format == "json":
        print(render(rows, ("class", result.primary), "json", extra=summary))
    else:
        metrics = "  ".join(f"{k} {v:.4f}" for k, v in result.metrics.items())
        print(f"{args.model} on {data}: {result.count} images  {metrics}")
        print(render(rows, ("class", result.primary), args.format))
        if args.format == "table" and "confusion" in result.details:
            width = max(len(n) for n in result.class_names)
            print("\nconfusion matrix (rows: true, columns: predicted)")
            for name, row in zip(result.class_names, result.details["confusion"]):
                print(f"{name:>{width}}  " + " ".join(f"{v:4d}" for v in row))
    folder = args.plots or (str(Path(args.confusion_png).parent) if args.confusion_png else None)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        written = task.plots(result, Path(folder))
        if args.confusion_png and written:
            Path(written[0]).replace(args.confusion_png)
        print(f"plots: {', '.join(str(p) for p in written)}", file=sys.stderr)
    return 0

