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
import weakref
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from mobilenet.export.runtimes import RUNTIMES, Runtime, get_runtime
from mobilenet.files import temporary_directory
from mobilenet.sources import ModelSource
from mobilenet.extras import pyplot

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


# --- one case ---------------------------------------------------------------------------------
def check_choices(values: Sequence[str], valid: Sequence[str], what: str) -> None:
    bad = [v for v in values if v not in valid]
    if bad:
        raise ValueError(f"unsupported {what} {', '.join(map(repr, bad))}; valid: {', '.join(valid)}")


class Artifacts:
    """Each runtime's file of a source, built once per (file kind, resolution, precision), in a temp folder."""

    def __init__(self, calib: str | Path | None = None, exporter: str = "dynamo") -> None:
        self._folder = temporary_directory("bench")
        self.folder = self._folder.__enter__()
        weakref.finalize(self, self._folder.__exit__, None, None, None)
        self.calib, self.exporter = calib, exporter
        self.files: dict[tuple[int, str, int, str], Path] = {}

    def file(self, source: ModelSource, runtime: Runtime, resolution: int, precision: str) -> Path:
        key = (id(source), runtime.file_kind or runtime.name, resolution, precision)
        if key not in self.files:
            # names of their own: widths contain dots
            path = self.folder / f"{len(self.files)}-{resolution}.{precision}{runtime.suffix}"
            assert runtime.build is not None
            runtime.build(source, path, precision, resolution, self.calib or synthetic_images(self.folder),
                          self.exporter)
            self.files[key] = path
        return self.files[key]

    def onnx(self, source: ModelSource, resolution: int, precision: str) -> Path:
        return self.file(source, get_runtime("onnxruntime"), resolution, precision)


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


def bench_case(source: ModelSource, runtime: str, precision: str, batch: int, resolution: int, threads: int | None,
               artifacts: Artifacts, warmup: int = 10, runs: int = 50) -> dict[str, Any]:
    """One row: latency, throughput, peak memory and file size of ``source`` on one runtime/precision/batch."""
    entry = get_runtime(runtime)
    if precision not in entry.precisions:
        raise ValueError(f"runtime {runtime!r} has no {precision} kernels here; valid precisions: "
                         f"{', '.join(entry.precisions)}" + (" (torch.ao eager quantization is deprecated; use "
                                                             "onnxruntime for int8)" if runtime == "torch" else ""))
    if threads:
        torch.set_num_threads(threads)
    path = artifacts.file(source, entry, resolution, precision) if entry.build is not None else None
    baseline = reset_peak_memory()
    run = entry.runner(source, path, batch, resolution, threads)
    size = Path(path).stat().st_size if path else sum(p.numel() * p.element_size() for p in source.model.parameters())
    timing = Timing.of(time_calls(run, warmup, runs), batch)
    from mobilenet.cost import profile

    return {"model": source.name, "width_mult": getattr(source.model, "width_mult", None), "resolution": resolution,
            "runtime": runtime, "precision": precision, "batch": batch, "threads": threads or torch.get_num_threads(),
            "p50_ms": timing.p50_ms, "p90_ms": timing.p90_ms, "throughput": timing.throughput,
            "peak_mem_mb": peak_memory_since(baseline), "size_mb": size / 2**20,
            "macs_m": profile(source.model, resolution).macs / 1e6}


def bench_file(path: str | Path, runtime: str, batch: int, threads: int | None, warmup: int = 10,
               runs: int = 50) -> dict[str, Any]:
    """One row for an exported file (float or INT8), with the input size stored in it."""
    from mobilenet.export.onnx import load_onnx, read_metadata

    entry = get_runtime(runtime)
    if entry.suffix != Path(path).suffix:
        runs_it = [name for name, r in RUNTIMES.items() if r.suffix == Path(path).suffix]
        raise ValueError(f"{str(path)!r} is not a {runtime} file; bench it on the runtime "
                         f"{' or '.join(runs_it) or 'onnxruntime'}")
    dims = load_onnx(path).graph.input[0].type.tensor_type.shape.dim
    fixed = dims[0].dim_value if dims[0].HasField("dim_value") else None
    if fixed and fixed != batch:
        raise ValueError(f"{str(path)!r} was exported for batch {fixed}; bench it at batch {fixed}, or export it with "
                         "a dynamic batch")
    meta = read_metadata(path)
    resolution = dims[2].dim_value
    if threads:
        torch.set_num_threads(threads)
    baseline = reset_peak_memory()
    timing = Timing.of(time_calls(entry.runner(None, Path(path), batch, resolution, threads), warmup, runs), batch)
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


def published_top1(model_name: str, width_mult: float | None, resolution: int) -> float | None:
    """The published ImageNet top-1 of a registered family at a width and resolution (None: unknown)."""
    from mobilenet.cost.published import PUBLISHED_TOP1
    from mobilenet.models.registry import MODELS

    base = model_name.split("@")[0]
    if base not in MODELS:
        return None
    spec = MODELS[base].spec.name
    width = MODELS[base].width_mult if width_mult is None else width_mult
    names = [n for n, e in MODELS.items() if e.task == "classification" and e.spec.name == spec and e.width_mult == width]
    found = [PUBLISHED_TOP1[(n, resolution)][0] for n in names if (n, resolution) in PUBLISHED_TOP1]
    return found[0] if found else None


def pareto_plot(rows: Sequence[dict[str, Any]], path: str | Path, title: str) -> None:
    """Accuracy against latency with the Pareto front (the fastest model for each accuracy), the
    colour giving the input resolution, beside latency against multiply-adds. The accuracy is the
    measured top-1 (``top1``, with ``--val``) or else the published one (``published_top1``)."""
    plt = pyplot()
    fig, (ax_acc, ax_macs) = plt.subplots(1, 2, figsize=(13, 5))
    accuracy = [row.get("top1") if row.get("top1") is not None else row.get("published_top1") for row in rows]
    measured = any(row.get("top1") is not None for row in rows)
    known = [(row, a) for row, a in zip(rows, accuracy) if a is not None]
    resolutions = [row["resolution"] for row in rows]
    norm = plt.Normalize(min(resolutions), max(resolutions))
    if known:
        xs, ys = [row["p50_ms"] for row, _ in known], [a for _, a in known]
        points = ax_acc.scatter(xs, ys, c=[row["resolution"] for row, _ in known], cmap="viridis", norm=norm)
        for (row, _), x, y in zip(known, xs, ys):
            ax_acc.annotate(f"{row.get('width_mult') or ''}", (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        front = pareto_front(list(zip(xs, ys)), higher_is_better=True)
        front.sort(key=lambda i: xs[i])
        ax_acc.plot([xs[i] for i in front], [ys[i] for i in front], "r--", lw=1, label="Pareto front")
        ax_acc.legend()
        fig.colorbar(points, ax=ax_acc, label="resolution")
    else:
        ax_acc.text(0.5, 0.5, "no accuracy known: pass a labelled folder (--val)", ha="center", va="center",
                    transform=ax_acc.transAxes)
    ax_acc.set(xlabel="p50 latency (ms)", ylabel="top-1 (%)" + ("" if measured else ", published"),
               title="accuracy vs latency (label: width)")
    points = ax_macs.scatter([row["macs_m"] for row in rows], [row["p50_ms"] for row in rows], c=resolutions,
                             cmap="viridis", norm=norm)
    fig.colorbar(points, ax=ax_macs, label="resolution")
    ax_macs.set(xlabel="multiply-adds (millions)", ylabel="p50 latency (ms)", title="latency vs multiply-adds")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(str(path), dpi=120)
    plt.close(fig)
