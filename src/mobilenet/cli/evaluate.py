"""``mobilenet eval``: top-1, top-5, per-class accuracy and the confusion matrix of a checkpoint."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mobilenet.cli.tables import FORMATS, render


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("eval", help="evaluate a training checkpoint on an image folder or the digits",
                              description="Evaluate a checkpoint written by `mobilenet train`. --data DIR: "
                                          "DIR/val/ when it exists, else the run's saved validation split of DIR, "
                                          "else every image under DIR/<class>/.")
    p.add_argument("--checkpoint", required=True, help="a .pt file or a run folder (its best.pt)")
    p.add_argument("--data", default=None, help="image folder, or 'digits' (default: the run's validation images)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=-1, help="DataLoader workers (-1: sized for the machine)")
    p.add_argument("--confusion-png", help="also draw the confusion matrix to this PNG file")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.set_defaults(func=run)


def eval_dataset(data: str, checkpoint: dict[str, Any]) -> Any:
    """The evaluation images, with class indices in the checkpoint's class order."""
    from mobilenet.data.digits import digits_splits
    from mobilenet.data.folders import ImageFiles, find_classes, folder_splits, scan
    from mobilenet.engine.builders import is_digits

    names = list(checkpoint["class_names"])
    config = checkpoint["config"]
    if is_digits(data):
        return digits_splits(checkpoint["preprocessing"]["resolution"], config["val_fraction"], config["seed"])[1]
    root = Path(data)
    split_file = Path(checkpoint["path"]).parent / "split.json"
    if (root / "val").is_dir():
        root = root / "val"
    elif split_file.is_file() and Path(json.loads(split_file.read_text()).get("root", "")).resolve() == root.resolve():
        saved = json.loads(split_file.read_text())
        return folder_splits(root, config["val_fraction"], config["seed"], saved)[1]
    classes = find_classes(root)
    unknown = sorted(set(classes) - set(names))
    if unknown:
        raise ValueError(f"class folder(s) {', '.join(unknown)} are not among the checkpoint's classes "
                         f"({', '.join(names)})")
    samples = [(path, names.index(classes[t])) for path, t in scan(root, classes)]
    return ImageFiles(samples, names)


def run(args: argparse.Namespace) -> int:
    from mobilenet.data.pipeline import AugmentedDataset, EpochSampler, default_workers, make_loader
    from mobilenet.data.transforms import eval_transform
    from mobilenet.engine.checkpoint import model_from_checkpoint
    from mobilenet.engine.distributed import DistContext
    from mobilenet.engine.evaluate import evaluate
    from mobilenet.engine.report import plot_confusion
    from mobilenet.extras import pyplot

    if args.batch_size <= 0:
        raise ValueError(f"--batch-size must be > 0, got {args.batch_size}")
    if args.confusion_png:
        pyplot("--confusion-png")  # before evaluating: missing matplotlib fails early
    model, checkpoint = model_from_checkpoint(args.checkpoint, prefer="best.pt")
    data = args.data if args.data is not None else checkpoint["config"]["data"]
    dataset = eval_dataset(data, checkpoint)
    if args.data is None and checkpoint["config"].get("max_images"):  # exactly the run's validation images
        from mobilenet.engine.builders import first_images

        dataset = first_images(dataset, checkpoint["config"]["max_images"])
    in_memory = not hasattr(dataset, "samples")  # the digits are tensors; folders are files to decode
    workers = default_workers(in_memory) if args.workers < 0 else args.workers
    loader = make_loader(AugmentedDataset(dataset, eval_transform(checkpoint["preprocessing"])),
                         EpochSampler(len(dataset), False), args.batch_size, workers, drop_last=False)
    result = evaluate(model, loader, checkpoint["class_names"], DistContext())
    if result.skipped:
        print(f"warning: skipped {len(result.skipped)} unreadable image(s)")
    rows = [{"class": name, "images": sum(result.confusion[i]), "accuracy": result.per_class[i]}
            for i, name in enumerate(result.class_names)]
    summary = {"checkpoint": checkpoint["path"], "data": str(data), "images": result.count,
               "top1": result.top1, "top5": result.top5, "loss": result.loss, "confusion": result.confusion}
    if args.format == "json":
        print(render(rows, ("class", "images", "accuracy"), "json", extra=summary))
    else:
        print(f"{checkpoint['path']} on {data}: {result.count} images  top-1 {result.top1:.4f}  "
              f"top-5 {result.top5:.4f}  loss {result.loss:.4f}")
        print(render(rows, ("class", "images", "accuracy"), args.format))
        if args.format == "table":
            width = max(len(n) for n in result.class_names)
            print("\nconfusion matrix (rows: true, columns: predicted)")
            for name, row in zip(result.class_names, result.confusion):
                print(f"{name:>{width}}  " + " ".join(f"{v:4d}" for v in row))
    if args.confusion_png:
        plot_confusion(result.confusion, result.class_names, Path(args.confusion_png), required=True)
    return 0
