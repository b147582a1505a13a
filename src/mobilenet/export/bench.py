"""Latency on this machine: PyTorch eager (BN folded, channels-last), onnxruntime and OpenVINO, fp32 and INT8.

Each case is warmed up, then timed over many runs; the row gives p50/p90 latency, throughput,
the memory the case added at its peak (Linux ``VmHWM``, reset before the case) and the model
file size. ``grid`` sweeps width x resolution and ``pareto_plot`` draws latency against
multiply-adds (and accuracy when known), the way the papers' figures do.
"""

from __future__ import annotations

import ctypes
import gc
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from mobilenet.export.fuse import inference_form
from mobilenet.export.source import Source
from mobilenet.extras import pyplot, require

RUNTIMES = ("torch", "onnxruntime", "openvino")
PRECISIONS = ("fp32", "int8")


# --- timing -----------------------------------------------------------------------------------
def time_calls(fn: Callable[[], Any], warmup: int = 10, runs: int = 50, min_seconds: float = 0.0) -> list[float]:
    """Seconds per call of ``fn`` after ``warmup`` calls; at least ``runs`` calls and ``min_seconds``."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < runs or time.perf_counter() - started < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def percentile(times: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(times), q))


@dataclass
class Timing:
    p50_ms: float
    p90_ms: float
    mean_ms: float
    throughput: float  # images per second at this batch size
    runs: int

    @classmethod
    def of(cls, times: Sequence[float], batch: int) -> Timing:
        mean = statistics.fmean(times)
        return cls(1e3 * percentile(times, 50), 1e3 * percentile(times, 90), 1e3 * mean, batch / mean, len(times))


# --- memory -----------------------------------------------------------------------------------
def _status(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def reset_peak_memory() -> int | None:
    """Reset the process's peak RSS (Linux ``clear_refs``); returns the current RSS in bytes.

    Freed heap memory is first handed back to the OS (glibc ``malloc_trim``), otherwise a case could
    reuse pages an earlier export freed and look as if it needed no memory.
    """
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    return _status("VmRSS")


def peak_memory_since(baseline: int | None) -> float | None:
    """MiB the process's peak RSS rose above ``baseline`` (None where unsupported)."""
    peak = _status("VmHWM")
    return None if baseline is None or peak is None else max(0, peak - baseline) / 2**20


# --- runtimes ---------------------------------------------------------------------------------
def set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)


def torch_runner(model: torch.nn.Module, batch: int, resolution: int, channels_last: bool = True
                 ) -> Callable[[], Any]:
    """Our PyTorch inference form (BN folded, channels-last) on a fixed random batch."""
    fast = inference_form(model, channels_last=channels_last)
    x = torch.randn(batch, 3, resolution, resolution)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)

    def run() -> Any:
        with torch.inference_mode():
            return fast(x)

    return run


def onnx_runner(path: str | Path, batch: int, resolution: int, threads: int | None) -> Callable[[], Any]:
    from mobilenet.export.onnx import make_session

    session = make_session(path, threads)
    name = session.get_inputs()[0].name
    x = np.random.default_rng(0).standard_normal((batch, 3, resolution, resolution)).astype(np.float32)
    return lambda: session.run(None, {name: x})


def openvino_runner(path: str | Path, batch: int, resolution: int, threads: int | None) -> Callable[[], Any]:
    ov = require("openvino", "runtime 'openvino'")
    from mobilenet.export.onnx import load_onnx

    load_onnx(path)  # clear error for a bad file before OpenVINO's own
    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    compiled = ov.Core().compile_model(str(path), "CPU", config)
    request = compiled.create_infer_request()
    x = np.random.default_rng(0).standard_normal((batch, 3, resolution, resolution)).astype(np.float32)
    return lambda: request.infer({0: x})


def check_choices(values: Sequence[str], valid: Sequence[str], what: str) -> None:
    bad = [v for v in values if v not in valid]
    if bad:
        raise ValueError(f"unsupported {what} {', '.join(map(repr, bad))}; valid: {', '.join(valid)}")


# --- one case ---------------------------------------------------------------------------------
class Artifacts:
    """ONNX files of a source, exported and quantized once per (resolution, batch), in a temp folder."""

    def __init__(self, calib: str | Path | None = None) -> None:
        self.folder = tempfile.TemporaryDirectory(prefix="mobilenet-bench-")
        self.calib = calib
        self.files: dict[tuple[int, int, str], Path] = {}

    def onnx(self, source: Source, resolution: int, precision: str, exporter: str = "dynamo") -> Path:
        from mobilenet.export.onnx import export_onnx
        from mobilenet.export.quantize import quantize_source

        key = (id(source), resolution, precision)
        if key not in self.files:
            # names of their own: widths contain dots
            path = Path(self.folder.name) / f"{len(self.files)}-{resolution}.{precision}.onnx"
            if precision == "int8":  # exported from the model's INT8 form, not from the float file
                quantize_source(source, path, self.calib or synthetic_images(Path(self.folder.name)), limit=32,
                                resolution=resolution, exporter=exporter)
            else:
                export_onnx(source, path, batch="dynamic", resolution=resolution, exporter=exporter)
            self.files[key] = path
        return self.files[key]


def synthetic_images(folder: Path, count: int = 16) -> Path:
    """Noise images for calibrating a model whose INT8 latency (not accuracy) is measured."""
    from PIL import Image

    target = folder / "synthetic-calibration"
    if not target.exists():
        target.mkdir()
        rng = np.random.default_rng(0)
        for i in range(count):
            Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(target / f"{i}.png")
    return target


def bench_case(source: Source, runtime: str, precision: str, batch: int, resolution: int, threads: int | None,
               artifacts: Artifacts, warmup: int = 10, runs: int = 50, exporter: str = "dynamo") -> dict[str, Any]:
    """One row: latency, throughput, peak memory and file size of ``source`` on one runtime/precision/batch."""
    check_choices([runtime], RUNTIMES, "runtime")
    check_choices([precision], PRECISIONS, "precision")
    set_threads(threads)
    path = None
    if runtime != "torch":
        path = artifacts.onnx(source, resolution, precision, exporter)
    elif precision == "int8":
        raise ValueError("INT8 on the torch runtime is not supported (torch.ao eager quantization is deprecated); "
                         "use --runtime onnxruntime or openvino for int8")
    baseline = reset_peak_memory()
    if runtime == "torch":
        run = torch_runner(source.model, batch, resolution)
        size = sum(p.numel() * p.element_size() for p in source.model.parameters())
    elif runtime == "onnxruntime":
        run = onnx_runner(path, batch, resolution, threads)
    else:
        run = openvino_runner(path, batch, resolution, threads)
    timing = Timing.of(time_calls(run, warmup, runs), batch)
    from mobilenet.cost import profile

    return {"model": source.name, "width_mult": source.model.width_mult, "resolution": resolution,
            "runtime": runtime, "precision": precision, "batch": batch, "threads": threads or torch.get_num_threads(),
            "p50_ms": timing.p50_ms, "p90_ms": timing.p90_ms, "throughput": timing.throughput,
            "peak_mem_mb": peak_memory_since(baseline),
            "size_mb": (Path(path).stat().st_size if path else size) / 2**20,
            "macs_m": profile(source.model, resolution).macs / 1e6}


def bench_file(path: str | Path, runtime: str, batch: int, threads: int | None, warmup: int = 10,
               runs: int = 50) -> dict[str, Any]:
    """One row for an exported ONNX file (float or INT8), with the input size stored in it."""
    from mobilenet.export.onnx import load_onnx, read_metadata

    check_choices([runtime], RUNTIMES, "runtime")
    if runtime == "torch":
        raise ValueError(f"{str(path)!r} is an ONNX file; bench it with --runtime onnxruntime or openvino")
    dims = load_onnx(path).graph.input[0].type.tensor_type.shape.dim
    fixed = dims[0].dim_value if dims[0].HasField("dim_value") else None
    if fixed and fixed != batch:
        raise ValueError(f"{str(path)!r} was exported for batch {fixed}; use --batch {fixed} or export with --batch dynamic")
    meta = read_metadata(path)
    resolution = dims[2].dim_value
    set_threads(threads)
    baseline = reset_peak_memory()
    make = onnx_runner if runtime == "onnxruntime" else openvino_runner
    timing = Timing.of(time_calls(make(path, batch, resolution, threads), warmup, runs), batch)
    return {"model": Path(path).name, "width_mult": meta.get("config", {}).get("width_mult"), "resolution": resolution,
            "runtime": runtime, "precision": "int8" if "quantization" in meta else "fp32", "batch": batch,
            "threads": threads, "p50_ms": timing.p50_ms, "p90_ms": timing.p90_ms, "throughput": timing.throughput,
            "peak_mem_mb": peak_memory_since(baseline), "size_mb": Path(path).stat().st_size / 2**20}


BENCH_COLUMNS = ("model", "width_mult", "resolution", "runtime", "precision", "batch", "threads", "p50_ms",
                 "p90_ms", "throughput", "peak_mem_mb", "size_mb", "macs_m")


# --- grid and Pareto plot -----------------------------------------------------------------------
GRID_WIDTHS = (0.35, 0.5, 0.75, 1.0)
GRID_RESOLUTIONS = (128, 160, 192, 224)


def pareto_front(points: Sequence[tuple[float, float]], higher_is_better: bool = False) -> list[int]:
    """Indices of the points no other point beats on both cost (x, lower) and y (lower, or higher)."""
    sign = -1.0 if higher_is_better else 1.0
    order = sorted(range(len(points)), key=lambda i: (points[i][0], sign * points[i][1]))
    front, best = [], float("inf")
    for i in order:
        if sign * points[i][1] < best:
            front.append(i)
            best = sign * points[i][1]
    return front


def pareto_plot(rows: Sequence[dict[str, Any]], path: str | Path, title: str) -> None:
    """Latency vs MACs (and accuracy vs latency when rows have ``top1``), Pareto fronts drawn, as PNG."""
    plt = pyplot()
    with_accuracy = any(row.get("top1") is not None for row in rows)
    fig, axes = plt.subplots(1, 2 if with_accuracy else 1, figsize=(12 if with_accuracy else 6.5, 5), squeeze=False)
    ax = axes[0][0]
    xs = [row["macs_m"] for row in rows]
    ys = [row["p50_ms"] for row in rows]
    ax.scatter(xs, ys, c=[row["resolution"] for row in rows], cmap="viridis")
    for row, x, y in zip(rows, xs, ys):
        ax.annotate(f"{row['width_mult']:g}/{row['resolution']}", (x, y), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    front = pareto_front(list(zip(xs, ys)))
    ax.plot([xs[i] for i in front], [ys[i] for i in front], "r--", lw=1, label="Pareto front")
    ax.set_xlabel("multiply-adds (millions)")
    ax.set_ylabel("p50 latency (ms)")
    ax.set_title("latency vs MACs (label: width/resolution)")
    ax.legend()
    if with_accuracy:
        ax = axes[0][1]
        known = [row for row in rows if row.get("top1") is not None]
        xs, ys = [row["p50_ms"] for row in known], [row["top1"] for row in known]
        ax.scatter(xs, ys)
        for row, x, y in zip(known, xs, ys):
            ax.annotate(row["model"], (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        front = pareto_front(list(zip(xs, ys)), higher_is_better=True)
        ax.plot([xs[i] for i in front], [ys[i] for i in front], "r--", lw=1)
        ax.set_xlabel("p50 latency (ms)")
        ax.set_ylabel("top-1 (%)")
        ax.set_title("accuracy vs latency")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(str(path), dpi=120)
    plt.close(fig)
