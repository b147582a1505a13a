"""``mobilenet export MODEL``: a model to a validated file for a runtime (ONNX, LiteRT ``.tflite``,
ExecuTorch ``.pte``), optionally with an INT8 twin by post-training quantization or
quantization-aware fine-tuning.

MODEL is any model source: a registered name with ``--weights`` (without, the weights are random and
the command says so), a weights record, our ``.safetensors``, a training checkpoint or run folder.
The input size, preprocessing and class names come from the weights and go into the file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mobilenet.cli.options import add_model_source, deprecated_alias, model_source_args
from mobilenet.cli.tables import FORMATS, render
from mobilenet.export.litert_forms import DEFAULT_HARD_SWISH, HARD_SWISH_FORMS

FILE_FORMATS = {"onnx": ".onnx", "tflite": ".tflite", "executorch": ".pte"}
"""Export targets and their file suffix."""
CALIBRATION = {"onnx": ("minmax", "entropy", "percentile"), "tflite": ("histogram", "minmax"),
               "executorch": ("histogram", "minmax")}
"""Each format's calibration methods, its default first (onnxruntime's calibrators; PT2E observers)."""
EXPORTERS = {"onnx": ("onnx", "ONNX export"), "tflite": ("litert_torch", "LiteRT export"),
             "executorch": ("executorch", "ExecuTorch export")}
"""The package each format needs (checked before the model is loaded)."""


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("export", help="export to ONNX, LiteRT or ExecuTorch (float, and INT8 with --int8)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_source(p)
    p.add_argument("--format", dest="target", choices=tuple(FILE_FORMATS), default=None,
                   help="file format (default: from the output's suffix, else onnx)")
    p.add_argument("-o", "--output", help="output file (default: <model>.<suffix>); INT8 goes to <output>.int8.<suffix>")
    p.add_argument("--batch-size", default=None,
                   help="the exported file's batch: 'dynamic' or a fixed size (default: dynamic for ONNX; LiteRT "
                        "and ExecuTorch files have a fixed batch, default 1)")
    deprecated_alias(p, "--batch", "batch_size", "--batch-size")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset, >= 14 (default: 18)")
    p.add_argument("--postprocess", action="store_true",
                   help="task models: put the post-processing inside the file (a detector's NMS, a segmenter's arg-max)")
    p.add_argument("--check-images", help="image file or folder to compare ONNX and PyTorch on "
                                          "(default: the calibration folder, if any)")
    q = p.add_argument_group("INT8")
    q.add_argument("--int8", action="store_true", help="also write a static INT8 (QDQ, per-channel) model")
    q.add_argument("--calib", help="folder of calibration images (required with --int8)")
    q.add_argument("--calib-method", choices=sorted(set().union(*CALIBRATION.values())), default=None,
                   help="how activation ranges are calibrated: minmax, entropy, percentile for ONNX (default "
                        "minmax); histogram, minmax for tflite and executorch (default histogram)")
    q.add_argument("--calib-limit", type=int, default=128, help="at most this many calibration images (default: 128)")
    q.add_argument("--qat-epochs", type=int, default=0,
                   help="quantization-aware fine-tuning epochs before quantizing (0: post-training only)")
    q.add_argument("--qat-data", help="labelled folder (<class>/<image>) for QAT (default: --calib)")
    q.add_argument("--qat-lr", type=float, default=None,
                   help="QAT learning rate (default: the checkpoint's final rate, at least 1%% of its peak; "
                        f"{DEFAULT_QAT_LR} for other models)")
    q.add_argument("--val", help="labelled folder: report float and INT8 top-1 side by side")
    q.add_argument("--hard-swish", choices=HARD_SWISH_FORMS, default=None,
                   help=f"tflite INT8: how hard-swish is written (default {DEFAULT_HARD_SWISH}: one XNNPACK "
                        "partition; see README)")
    p.add_argument("--report-format", choices=FORMATS, default="table",
                   help="how to print the report (default: table)")
    deprecated_alias(p, "--format-report", "report_format", "--report-format")
    p.set_defaults(func=run_export)


DEFAULT_QAT_LR = 0.0005


def qat_learning_rate(checkpoint: dict[str, Any] | None) -> float:
    """The rate a training run ended with (its schedule at the last step), at least 1% of its peak:
    quantization-aware fine-tuning continues the run, it does not restart it (a from-scratch rate
    took a fine-tuned model from 84% to 54%)."""
    if not checkpoint or "config" not in checkpoint:
        return DEFAULT_QAT_LR
    from mobilenet.engine.config import TrainConfig
    from mobilenet.engine.optim import lr_factor

    config = TrainConfig(**checkpoint["config"])
    steps_per_epoch = max(1, int(checkpoint.get("step", 1)) // max(1, int(checkpoint.get("epoch", 1))))
    return config.lr * max(lr_factor(config.epochs * steps_per_epoch - 1, steps_per_epoch, config), 0.01)


def keep_ptq_if_better(source: Any, quantized: Path, qat_result: Any, args: argparse.Namespace) -> Any:
    """Post-training INT8 beside the QAT one, measured on ``--val``: the QAT file stays only if it is
    at least as accurate (QAT at a bad rate can end below PTQ)."""
    from mobilenet.export.accuracy import onnx_accuracy
    from mobilenet.export.onnxruntime.quantize import quantize_source

    ptq_path = quantized.with_name(quantized.name.replace(".int8.", ".int8-ptq."))
    ptq = quantize_source(source, ptq_path, args.calib, method=args.calib_method or "minmax", limit=args.calib_limit,
                          batch=args.batch_size or "dynamic", opset=args.opset, postprocess=args.postprocess)
    qat_top1, ptq_top1 = onnx_accuracy(quantized, args.val).top1, onnx_accuracy(ptq_path, args.val).top1
    if qat_top1 < ptq_top1:
        print(f"mobilenet export: warning: QAT ended below post-training quantization on {args.val} "
              f"({100 * qat_top1:.2f}% vs {100 * ptq_top1:.2f}%); keeping the post-training INT8 file",
              file=sys.stderr)
        ptq_path.replace(quantized)
        return ptq
    ptq_path.unlink()
    return qat_result


def target_format(args: argparse.Namespace) -> str:
    """The file format: ``--format``, else the output's suffix, else ONNX; a mismatch is an error."""
    suffix = Path(args.output).suffix.lower() if args.output else ""
    by_suffix = next((name for name, ext in FILE_FORMATS.items() if ext == suffix), None)
    if args.target and suffix and by_suffix != args.target:
        raise ValueError(f"the output {args.output!r} does not end in {FILE_FORMATS[args.target]}, the suffix of "
                         f"format {args.target}; name the file *{FILE_FORMATS[args.target]}")
    if args.target:
        return str(args.target)
    if suffix and by_suffix is None:
        raise ValueError(f"cannot export to {args.output!r}: {suffix} is not a known format; valid: "
                         + ", ".join(f"{name} ({ext})" for name, ext in FILE_FORMATS.items()))
    return by_suffix or "onnx"


def int8_path(output: Path) -> Path:
    """``model.onnx`` -> ``model.int8.onnx`` (any suffix)."""
    return output.with_name(output.stem + ".int8" + output.suffix)


def check_options(args: argparse.Namespace, target: str) -> None:
    """Options that only some formats have: one clear error naming the valid ones."""
    methods = CALIBRATION[target]
    if args.calib_method is not None and args.calib_method not in methods:
        raise ValueError(f"calibration method {args.calib_method!r} is not one of format {target}; valid: "
                         f"{', '.join(methods)}")
    if target != "onnx" and args.batch_size == "dynamic":
        raise ValueError(f"{target} files have a fixed batch; pass --batch-size N (default 1)")
    if args.hard_swish is not None and target != "tflite":
        raise ValueError(f"--hard-swish applies to --format tflite only, not {target}")


def run_export(args: argparse.Namespace) -> int:
    from mobilenet.extras import require
    from mobilenet.sources import RANDOM_WEIGHTS_NOTE, open_source

    if args.int8 and not args.calib:
        raise ValueError("--int8 needs --calib DIR, a folder of representative images")
    if args.qat_epochs and not args.int8:
        raise ValueError("--qat-epochs only applies with --int8 --calib DIR")
    if args.calib and not Path(args.calib).is_dir():
        raise FileNotFoundError(f"calibration folder {args.calib!r} does not exist; pass a folder of images")
    target = target_format(args)
    check_options(args, target)
    require(*EXPORTERS[target])
    source = open_source(**model_source_args(args))
    output = Path(args.output or f"{source.name}{FILE_FORMATS[target]}")
    args.calib_method = args.calib_method or CALIBRATION[target][0]
    export = export_onnx_files if target == "onnx" else export_edge_files
    export(args, source, output, target)
    if source.random_weights:
        print(f"mobilenet export: note: {args.model} {RANDOM_WEIGHTS_NOTE}", file=sys.stderr)
    return 0


def qat_rate(args: argparse.Namespace, source: Any) -> float:
    lr = args.qat_lr if args.qat_lr is not None else qat_learning_rate(source.checkpoint)
    print(f"mobilenet export: QAT learning rate {lr:.3g}" + ("" if args.qat_lr is not None else
          " (derived from the checkpoint's final rate)"), file=sys.stderr)
    return lr


def export_onnx_files(args: argparse.Namespace, source: Any, output: Path, target: str) -> None:
    """``--format onnx``: the float file, and with ``--int8`` its QDQ INT8 twin (PTQ or QAT)."""
    # imported here: onnx/onnxruntime load only for this format
    from mobilenet.export.accuracy import onnx_accuracy
    from mobilenet.export.onnx import export_onnx
    from mobilenet.export.onnxruntime.qat import qat_int8
    from mobilenet.export.onnxruntime.quantize import quantize_source

    args.batch_size = args.batch_size or "dynamic"
    report = export_onnx(source, output, batch=args.batch_size, opset=args.opset,
                         check_images=args.check_images or args.calib, postprocess=args.postprocess)
    rows = [{"file": str(output), "precision": "fp32", "size_mb": report.size_bytes / 2**20,
             "max_diff_random": report.diff_random, "max_diff_real": report.diff_real,
             "nodes": sum(report.ops.values())}]
    if args.int8:
        quantized = int8_path(output)
        if args.qat_epochs:
            lr = qat_rate(args, source)
            qat = qat_int8(source, quantized, args.qat_data or args.calib, args.calib, args.qat_epochs,
                           method=args.calib_method, batch=args.batch_size, lr=lr)
            result = qat.quantize
            if args.val:
                result = keep_ptq_if_better(source, quantized, result, args)
            else:
                print("mobilenet export: note: QAT was not compared with post-training quantization; give --val "
                      "to keep whichever is more accurate", file=sys.stderr)
        else:
            result = quantize_source(source, quantized, args.calib, method=args.calib_method, limit=args.calib_limit,
                                     batch=args.batch_size, opset=args.opset, postprocess=args.postprocess)
        rows.append({"file": str(quantized), "precision": "int8 qat" if args.qat_epochs else "int8 ptq",
                     "size_mb": result.size_bytes / 2**20})
    columns = ["file", "precision", "size_mb", "max_diff_random", "max_diff_real", "nodes"]
    if args.val:
        for row in rows:
            row["top1"] = 100 * onnx_accuracy(row["file"], args.val).top1
        columns.append("top1")
    print(render(rows, columns, args.report_format))


def export_edge_files(args: argparse.Namespace, source: Any, output: Path, target: str) -> None:
    """``--format tflite|executorch``: the float file, and with ``--int8`` its PT2E INT8 twin (PTQ or QAT),
    each checked with the runtime's own interpreter."""
    from mobilenet.export.edge import file_accuracy

    if target == "tflite":
        from mobilenet.export.litert import export_litert as export

        options: dict[str, Any] = {"hard_swish": args.hard_swish or DEFAULT_HARD_SWISH}
    else:
        from mobilenet.export.executorch import export_executorch as export

        options = {}
    try:
        batch = int(args.batch_size or 1)
    except ValueError:
        raise ValueError(f"the batch size of {target} files is a positive integer, got {args.batch_size!r}") from None
    common = {"resolution": args.resolution, "batch": batch, "postprocess": args.postprocess,
              "check_images": args.check_images or args.calib,
              "log": lambda line: print(line, file=sys.stderr), **options}  # stdout is the report only
    reports = [export(source, output, "fp32", **common)]
    if args.int8:
        lr = qat_rate(args, source) if args.qat_epochs else 0.0
        reports.append(export(source, int8_path(output), "int8", calib=args.calib, calib_method=args.calib_method,
                              calib_limit=args.calib_limit, qat_epochs=args.qat_epochs, qat_data=args.qat_data,
                              qat_lr=lr, **common))
    rows = []
    for report in reports:
        precision = "fp32" if report.precision == "fp32" else ("int8 qat" if args.qat_epochs else "int8 ptq")
        rows.append({"file": report.path, "precision": precision, "size_mb": report.size_bytes / 2**20,
                     "max_diff_random": report.diff_random, "max_diff_real": report.diff_real,
                     "top1_agreement": report.top1_agreement,
                     "xnnpack_partitions": report.details.get("xnnpack_partitions")})
    columns = ["file", "precision", "size_mb", "max_diff_random", "max_diff_real", "top1_agreement",
               "xnnpack_partitions"]
    if args.val:
        runtime = "litert" if target == "tflite" else "executorch"
        for row, report in zip(rows, reports):
            row["top1"] = 100 * file_accuracy(runtime, report.path, args.val).top1
        columns.append("top1")
    print(render(rows, columns, args.report_format))
