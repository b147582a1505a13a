"""``fit``: the recommendation respects the budget, prefers models with weights, then the published top-1."""

from __future__ import annotations

import pytest

from mobilenet.cli.main import main
from mobilenet.export.fit import Budget, candidate_names, fit, rank


def test_macs_budget_picks_the_most_accurate_published_model_that_fits() -> None:
    best, rows = fit(Budget(macs_m=100), ["v1", "v2", "v3_small"], resolutions=(224, 160))
    assert best is not None and best["macs_m"] <= 100
    assert all(r["fits"] == (r["macs_m"] <= 100) for r in rows)
    fitting = [r for r in rows if r["fits"]]
    assert best["weights"] and best["top1"] == max(r["top1"] or 0 for r in fitting if r["weights"])
    assert (best["model"], best["resolution"], best["top1"]) == ("mobilenet_v3_small", 224, 67.5)  # V3 Table 9
    assert best["top1_source"] == "V3 Table 9"


def test_weights_outrank_accuracy_then_macs_break_ties() -> None:
    with_weights = {"weights": "x", "top1": 60.0, "macs_m": 10.0, "resolution": 224}
    without = {"weights": "", "top1": 70.0, "macs_m": 20.0, "resolution": 224}
    unknown = {"weights": "x", "top1": None, "macs_m": 90.0, "resolution": 224}
    assert max([without, with_weights, unknown], key=rank) is with_weights


def test_every_family_is_a_candidate_v4_included() -> None:
    names = candidate_names(None)
    assert {"mobilenet_v1", "mobilenet_v2_035", "mobilenet_v3_large", "mobilenet_v3_small_minimal",
            "mobilenet_v4_conv_small", "mobilenet_v4_hybrid_large"} <= set(names)
    best, rows = fit(Budget(macs_m=250), ["v4"], resolutions=(224, 192))
    assert {r["model"] for r in rows} == set(candidate_names(["v4"]))
    assert best is not None and best["model"] == "mobilenet_v4_conv_small" and best["top1"] == 73.8


def test_params_budget_and_nothing_fits() -> None:
    best, _ = fit(Budget(params_m=2.0), ["v2"], resolutions=(224,))
    assert best is not None and best["params_m"] <= 2.0 and best["width_mult"] == 0.5
    best, rows = fit(Budget(params_m=0.1), ["v2"], resolutions=(224,))
    assert best is None and not any(r["fits"] for r in rows)


def test_latency_budget_is_measured_largest_resolution_first() -> None:
    best, rows = fit(Budget(latency_ms=10_000), ["v3_small"], resolutions=(64, 96), runtime="torch", runs=3)
    assert all(r["p50_ms"] > 0 for r in rows) and best is not None
    # per model, the largest resolution fits at once, so the smaller one is never measured
    assert [r["resolution"] for r in rows] == [96] * len(candidate_names(["v3_small"]))


def test_budget_errors(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(ValueError, match="exactly one budget"):
        Budget()
    with pytest.raises(ValueError, match="must be a positive number"):
        Budget(macs_m=-1)
    assert main(["fit", "--macs", "1", "--versions", "v2"]) == 2
    assert "no candidate fits the budget" in capsys.readouterr().err
    assert main(["fit", "--macs", "50", "--versions", "v9"]) == 2
    assert "unknown version(s) v9; valid: v1, v2, v3_large, v3_small, v4" in capsys.readouterr().err
