"""Pick a MobileNet for a budget: latency measured on this machine, or multiply-adds, or parameters.

Candidates are the registered classifiers (V1 to V4, every registered width) at a set of
resolutions, or one model's own weights at those resolutions. For a latency budget each model is
measured from the largest resolution down until one fits, so the number of measurements stays
small. Among the candidates that fit, the recommendation prefers models whose pretrained weights
exist (a user can start from them), then the highest published ImageNet top-1 (the checkpoint
tables of the papers and TF-slim, ``cost.published.PUBLISHED_TOP1``), then the most multiply-adds
(accuracy grows with MACs within a family) where no accuracy is published.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from mobilenet.cost import profile
from mobilenet.cost.published import PUBLISHED_TOP1
from mobilenet.export.bench import Artifacts, bench_case
from mobilenet.models.registry import list_models
from mobilenet.sources import open_source
from mobilenet.weights.records import list_records

FAMILIES = {"v1": "mobilenet_v1*", "v2": "mobilenet_v2*", "v3_large": "mobilenet_v3_large*",
            "v3_small": "mobilenet_v3_small*", "v4": "mobilenet_v4_*"}
RESOLUTIONS = (224, 192, 160, 128, 96)


@dataclass(frozen=True)
class Budget:
    latency_ms: float | None = None
    macs_m: float | None = None
    params_m: float | None = None

    def __post_init__(self) -> None:
        given = [v for v in (self.latency_ms, self.macs_m, self.params_m) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one budget: a latency in ms, or multiply-adds or parameters in millions")
        if not (given[0] > 0 and math.isfinite(given[0])):
            raise ValueError(f"the budget must be a positive number, got {given[0]}")


def candidate_names(versions: list[str] | None) -> list[str]:
    """The registered classifiers of the chosen families (every family when None)."""
    versions = versions or list(FAMILIES)
    unknown = [v for v in versions if v not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown version(s) {', '.join(unknown)}; valid: {', '.join(FAMILIES)}")
    return sorted({name for v in versions for name in list_models(FAMILIES[v], task="classification")})


def default_record(name: str) -> str:
    """A pretrained record of ``name`` ('' when none exists)."""
    records = [r.name for r in list_records() if r.model == name and not r.unsupported]
    return records[0] if records else ""


def rank(row: dict[str, Any]) -> tuple[bool, float, float, int]:
    """Weights first, then published top-1, then multiply-adds, then resolution."""
    top1 = row.get("top1")
    return bool(row.get("weights")), top1 if top1 is not None else -1.0, row["macs_m"], row["resolution"]


def fit(budget: Budget, versions: list[str] | None = None, resolutions: tuple[int, ...] = RESOLUTIONS,
        runtime: str | Sequence[str] = "onnxruntime", precision: str = "fp32", threads: int = 2, batch: int = 1, runs: int = 20,
        weights: str | None = None, model: str | None = None, calib: str | None = None,
        log: Callable[[str], None] = lambda _: None) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The recommended candidate (None if nothing fits) and every row considered (measured ones with latency).

    ``weights`` (with ``model`` for a registered name, or alone for a self-describing file or record):
    only that model is considered, at each resolution, with its own weights. ``runtime``: one name or
    several (e.g. ``("litert", "executorch")``): each candidate is measured on each, and its row keeps the
    fastest (``runtime`` column)."""
    runtimes = [runtime] if isinstance(runtime, str) else list(runtime)
    if weights is not None or model is not None:
        base = open_source(model or weights, weights=weights if model else None)
        names = [base.model.config.name]
    else:
        base, names = None, candidate_names(versions)
    rows: list[dict[str, Any]] = []
    artifacts = Artifacts(calib, exporter="torchscript")  # the faster exporter: many candidates
    for name in names:
        record = weights or default_record(name)
        for resolution in sorted(resolutions, reverse=True):
            if base is not None:
                source = base.at_resolution(resolution)
            else:
                source = open_source(name, resolution=resolution)
                source.name = f"{name}@{resolution}"
            cost = profile(source.model, resolution)
            published = PUBLISHED_TOP1.get((name, resolution))
            row: dict[str, Any] = {"model": name, "width_mult": source.model.width_mult, "resolution": resolution,
                                   "macs_m": cost.macs / 1e6, "params_m": cost.params / 1e6,
                                   "top1": published[0] if published else None,
                                   "top1_source": published[1] if published else "", "weights": record}
            rows.append(row)
            if budget.latency_ms is None:
                row["fits"] = (row["macs_m"] <= budget.macs_m if budget.macs_m is not None
                               else row["params_m"] <= budget.params_m)
                continue
            measured = min((bench_case(source, each, precision, batch, resolution, threads, artifacts, warmup=3,
                                       runs=runs) for each in runtimes), key=lambda m: m["p50_ms"])
            row["p50_ms"], row["p90_ms"], row["runtime"] = measured["p50_ms"], measured["p90_ms"], measured["runtime"]
            row["fits"] = row["p50_ms"] <= budget.latency_ms
            log(f"{name} @{resolution}: {row['p50_ms']:.2f} ms")
            if row["fits"]:
                break  # smaller resolutions of this model fit too and are less accurate
    fitting = [row for row in rows if row["fits"]]
    best = max(fitting, key=rank) if fitting else None
    for row in rows:
        row["recommended"] = "<==" if row is best else ""
    return best, rows
