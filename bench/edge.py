"""Issue 11 speed table: ExecuTorch, LiteRT and onnxruntime, fp32 and INT8, in one process.

For mobilenet_v2, mobilenet_v3_large and mobilenet_v3_small at 224, batch 1, 2 threads (random weights:
latency does not depend on them; INT8 calibrated on real photos), every case below is timed in
interleaved rounds (round r times each case for ``--calls`` calls, then round r + 1 ...), so load
from other processes hits all cases alike; the table gives medians and ratios from the same run.
The runtimes' thread pools live in the same process and their idle threads spin for a while
(onnxruntime's, XNNPACK's pthreadpool): before each case's calls the bench sleeps ``--gap`` seconds
and runs ``--warmup`` untimed calls, so one runtime's spinning threads do not take the cores from
the next (without the gap, the same file measured 30-130% slower depending on its neighbour):

- onnxruntime fp32 of torchvision's model exported with ``torch.onnx.export`` (the baseline),
  our fp32 ONNX and our INT8 QDQ (``mobilenet export --int8``);
- LiteRT fp32 and INT8 (``--format tflite``), for V3 also INT8 with the converter's int8 HARD_SWISH
  (``--hard-swish native``), with the XNNPACK partitions of each file;
- ExecuTorch fp32 and INT8 (``--format executorch``), XNNPACK.

Targets (issue 11): ExecuTorch INT8 at least 1.5x faster than ExecuTorch fp32 for V2 and V3-Large,
1.2x for V3-Small. Files are built once into ``--work`` (lowering is slow on a shared machine) and
reused by later runs, so the timing can wait for a quiet machine:

    python bench/edge.py --build-only            # export every file (minutes per file)
    nice -n 10 python bench/edge.py --rounds 15  # time them
    python bench/edge.py --no-build --models mobilenet_v2,my_model   # time only the files in --work
                                                 # (<model><suffix> of the table, e.g. exports of a run)

Where ExecuTorch's INT8 is not faster than its fp32, ``bench/xnnpack_int8.py`` times torchvision's model
through the plain ExecuTorch recipe, to tell the CPU's XNNPACK kernels from our exporter.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

import mobilenet
from mobilenet.data.preprocessing import Preprocessing
from mobilenet.export.bench import time_calls
from mobilenet.export.runtimes import get_runtime
from mobilenet.sources import ModelSource

MODELS = ("mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small")
RESOLUTION, BATCH, THREADS = 224, 1, 2
CALIB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "classification" / "hymenoptera" / "train"
TARGETS = {"mobilenet_v2": 1.5, "mobilenet_v3_large": 1.5, "mobilenet_v3_small": 1.2}
CASES = (  # (column, runtime, file suffix)
    ("ort tv fp32", "onnxruntime", ".tv.onnx"),
    ("ort fp32", "onnxruntime", ".onnx"),
    ("ort int8", "onnxruntime", ".int8.onnx"),
    ("litert fp32", "litert", ".tflite"),
    ("litert int8", "litert", ".int8.tflite"),
    ("litert int8 native-hswish", "litert", ".int8-native.tflite"),
    ("et fp32", "executorch", ".pte"),
    ("et int8", "executorch", ".int8.pte"),
)
INT8 = ("ort int8", "litert int8", "litert int8 native-hswish", "et int8")


def build(name: str, suffix: str, path: Path, calib: str) -> dict[str, Any]:
    """Export one file of the table; returns what the exporter reported (partitions)."""
    from mobilenet.export.onnx import DEFAULT_OPSET, export_onnx

    torch.manual_seed(0)
    source = ModelSource(mobilenet.create_model(name, resolution=RESOLUTION).eval(), name, Preprocessing(RESOLUTION))
    if suffix == ".tv.onnx":
        import torchvision

        model = getattr(torchvision.models, name)(weights=None).eval()
        program = torch.onnx.export(model, (torch.randn(1, 3, RESOLUTION, RESOLUTION),), None,
                                    opset_version=DEFAULT_OPSET, dynamo=True, verbose=False,
                                    input_names=["input"], output_names=["logits"])
        program.save(str(path))
        return {}
    if suffix == ".onnx":
        export_onnx(source, path, batch=BATCH)
        return {}
    if suffix == ".int8.onnx":
        from mobilenet.export.onnxruntime.quantize import quantize_source

        quantize_source(source, path, calib, limit=64, batch=BATCH)
        return {}
    precision = "int8" if ".int8" in suffix else "fp32"
    options: dict[str, Any] = {"calib": calib, "calib_limit": 64} if precision == "int8" else {}
    if suffix.endswith(".tflite"):
        from mobilenet.export.litert import export_litert

        report = export_litert(source, path, precision, hard_swish="native" if "native" in suffix else "float",
                               **options)
    else:
        from mobilenet.export.executorch import export_executorch

        report = export_executorch(source, path, precision, **options)
    return report.details


def partitions(runtime: str, path: Path) -> Any:
    if runtime == "litert":
        from mobilenet.export.litert import delegation

        return delegation(path)["xnnpack_partitions"]
    return None


def cpu_flags() -> str:
    """The CPU model and the SIMD flags that decide which kernels run (from ``lscpu``)."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "lscpu unavailable"
    info = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    flags = set(info.get("Flags", "").split())
    known = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8")
    have = " ".join(f for f in known if f in flags)
    missing = " ".join(f for f in known if f not in flags)
    return (f"{info.get('Model name', '?').strip()}, {info.get('CPU(s)', '?').strip()} CPUs, flags: {have}"
            + (f" (no {missing})" if missing else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="runs/edge-bench", help="folder of the exported files (reused)")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--calib", default=str(CALIB), help="calibration images for INT8")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds")
    parser.add_argument("--calls", type=int, default=20, help="timed calls per case and round")
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument("--gap", type=float, default=0.2, help="seconds of sleep before each case's calls")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls before each case's calls")
    parser.add_argument("--build-only", action="store_true", help="export the missing files, time nothing")
    parser.add_argument("--no-build", action="store_true",
                        help="time the files already in --work; missing cases are '-' in the table")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    models = args.models.split(",")
    cases: dict[tuple[str, str], tuple[str, Path]] = {}
    for name in models:
        for column, runtime, suffix in CASES:
            if "native" in column and not name.startswith("mobilenet_v3"):
                continue  # V2 has no hard-swish
            path = work / f"{name}{suffix}"
            if not path.exists() and args.no_build:
                continue
            if not path.exists():
                started = time.perf_counter()
                build(name, suffix, path, args.calib)
                print(f"built {path} in {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)
            cases[name, column] = (runtime, path)
    if args.build_only:
        return 0
    torch.set_num_threads(args.threads)
    from mobilenet.export.executorch import set_threads

    set_threads(args.threads)  # before any ExecuTorch method loads
    runners: dict[tuple[str, str], Callable[[], Any]] = {
        key: get_runtime(runtime).runner(None, path, BATCH, RESOLUTION, args.threads)
        for key, (runtime, path) in cases.items()}
    for run in runners.values():
        time_calls(run, warmup=args.calls, runs=0)
    times: dict[tuple[str, str], list[float]] = {key: [] for key in runners}
    load = [float(v) for v in Path("/proc/loadavg").read_text().split()[:1]]
    for _ in range(args.rounds):
        for key, run in runners.items():
            time.sleep(args.gap)
            times[key].append(statistics.median(time_calls(run, warmup=args.warmup, runs=args.calls)))
    load += [float(v) for v in Path("/proc/loadavg").read_text().split()[:1]]
    median = {key: 1e3 * statistics.median(values) for key, values in times.items()}
    print(f"{cpu_flags()}; batch {BATCH}, {RESOLUTION}x{RESOLUTION}, {args.threads} threads, medians of "
          f"{args.rounds} interleaved rounds of {args.calls} calls (ms), {args.gap}s gap and {args.warmup} warm-up "
          f"calls before each; load average {load[0]:.1f} -> {load[1]:.1f}")
    columns = [c for c, _, _ in CASES]
    print("| model | " + " | ".join(columns) + " | et int8 speed-up | litert int8 speed-up | ort int8 speed-up "
          "| fastest int8 vs ort tv fp32 |")
    print("|---" * (len(columns) + 5) + "|")
    for name in models:
        cells = []
        for column, runtime, _ in CASES:
            key = (name, column)
            if key not in median:
                cells.append("-")
                continue
            count = partitions(runtime, cases[key][1])
            cells.append(f"{median[key]:.2f}" + (f" ({count} part.)" if count is not None else ""))

        def ratio(a: str, b: str) -> str:
            return f"{median[name, a] / median[name, b]:.2f}" if (name, a) in median and (name, b) in median else "-"

        int8 = [c for c in INT8 if (name, c) in median]
        fastest = min(int8, key=lambda c: median[name, c]) if int8 else None
        et = ratio("et fp32", "et int8")
        verdict = "-" if et == "-" else ("ok" if float(et) >= TARGETS.get(name, 0) else "MISS")
        versus = f"{ratio('ort tv fp32', fastest)} ({fastest})" if fastest else "-"
        print(f"| {name} | " + " | ".join(cells)
              + f" | {et} ({verdict}, target {TARGETS.get(name, 0)}) | {ratio('litert fp32', 'litert int8')} "
              f"| {ratio('ort fp32', 'ort int8')} | {versus} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
