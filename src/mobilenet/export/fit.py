"""Pick a MobileNet for a budget: latency measured on this machine, or multiply-adds, or parameters.

Candidates are the registered families at their registered widths and a set of resolutions. For a
latency budget each family/width is measured from the largest resolution down until one fits, so
the number of measurements stays small. Among the candidates that fit, the recommendation is the
newest generation (the papers show V3 > V2 > V1 in accuracy at every multiply-add budget: V3 paper
Fig. 1, V2 paper Fig. 5), then the most multiply-adds (accuracy grows with MACs within a family).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from mobilenet.cost import profile
from mobilenet.export.bench import Artifacts, bench_case
from mobilenet.export.images import default_preprocessing
from mobilenet.export.source import Source
from mobilenet.models.registry import MODELS, create_model

FAMILIES = {"v1": "mobilenet_v1", "v2": "mobilenet_v2", "v3_large": "mobilenet_v3_large",
            "v3_small": "mobilenet_v3_small"}
GENERATION = {"mobilenet_v1": 1, "mobilenet_v2": 2, "mobilenet_v3_large": 3, "mobilenet_v3_small": 3}
RESOLUTIONS = (224, 192, 160, 128, 96)


@dataclass(frozen=True)
class Budget:
    latency_ms: float | None = None
    macs_m: float | None = None
    params_m: float | None = None

    def __post_init__(self) -> None:
        given = [v for v in (self.latency_ms, self.macs_m, self.params_m) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one budget: --latency-ms, --macs (millions) or --params (millions)")
        if given[0] <= 0:
            raise ValueError(f"the budget must be positive, got {given[0]}")


def registered_widths(family: str) -> list[float]:
    return sorted({entry.width_mult for name, entry in MODELS.items()
                   if name == family or name.removeprefix(family + "_").isdigit()}, reverse=True)


def candidate(family: str, width: float, resolution: int) -> dict[str, Any]:
    model = create_model(family, width_mult=width, resolution=resolution)
    cost = profile(model, resolution)
    return {"family": family, "width_mult": width, "resolution": resolution, "macs_m": cost.macs / 1e6,
            "params_m": cost.params / 1e6, "model": model}


def rank(row: dict[str, Any]) -> tuple[int, float]:
    return GENERATION[row["family"]], row["macs_m"]


def fit(budget: Budget, versions: list[str] | None = None, resolutions: tuple[int, ...] = RESOLUTIONS,
        runtime: str = "onnxruntime", precision: str = "fp32", threads: int = 2, batch: int = 1, runs: int = 20,
        log: Callable[[str], None] = lambda _: None) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The recommended candidate (None if nothing fits) and every row considered (measured ones with latency)."""
    versions = versions or list(FAMILIES)
    unknown = [v for v in versions if v not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown version(s) {', '.join(unknown)}; valid: {', '.join(FAMILIES)}")
    rows: list[dict[str, Any]] = []
    artifacts = Artifacts()
    for version in versions:
        family = FAMILIES[version]
        for width in registered_widths(family):
            for resolution in sorted(resolutions, reverse=True):
                row = candidate(family, width, resolution)
                rows.append(row)
                if budget.latency_ms is None:
                    row["fits"] = (row["macs_m"] <= budget.macs_m if budget.macs_m is not None
                                   else row["params_m"] <= budget.params_m)
                    continue
                source = Source(row["model"].eval(), f"{family}@{width:g}", default_preprocessing(resolution))
                measured = bench_case(source, runtime, precision, batch, resolution, threads, artifacts,
                                      warmup=3, runs=runs, exporter="torchscript")
                row["p50_ms"], row["p90_ms"] = measured["p50_ms"], measured["p90_ms"]
                row["fits"] = row["p50_ms"] <= budget.latency_ms
                log(f"{family} {width:g} @{resolution}: {row['p50_ms']:.2f} ms")
                if row["fits"]:
                    break  # smaller resolutions of this width fit too and are less accurate
    for row in rows:
        row.pop("model")
    fitting = [row for row in rows if row["fits"]]
    best = max(fitting, key=rank) if fitting else None
    for row in rows:
        row["recommended"] = "<==" if row is best else ""
    return best, rows
