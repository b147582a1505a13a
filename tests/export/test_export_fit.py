"""``fit``: the recommendation respects the budget and prefers the newer generation, then more MACs."""

from __future__ import annotations

import pytest

from mobilenet.cli.main import main
from mobilenet.export.fit import Budget, fit, registered_widths


def test_macs_budget_picks_the_largest_newest_that_fits() -> None:
    best, rows = fit(Budget(macs_m=100), ["v1", "v2", "v3_small"], resolutions=(224, 160))
    assert best is not None and best["macs_m"] <= 100 and best["family"] == "mobilenet_v3_small"
    fitting_v3 = [r for r in rows if r["fits"] and r["family"] == "mobilenet_v3_small"]
    assert best["macs_m"] == max(r["macs_m"] for r in fitting_v3)
    assert any(r["fits"] and r["family"] == "mobilenet_v2" for r in rows)  # V2 fits too, but is older
    assert all(r["fits"] == (r["macs_m"] <= 100) for r in rows)


def test_params_budget_and_nothing_fits() -> None:
    best, _ = fit(Budget(params_m=2.0), ["v2"], resolutions=(224,))
    assert best is not None and best["params_m"] <= 2.0 and best["width_mult"] == 0.5
    best, rows = fit(Budget(params_m=0.1), ["v2"], resolutions=(224,))
    assert best is None and not any(r["fits"] for r in rows)


def test_latency_budget_is_measured_largest_resolution_first() -> None:
    best, rows = fit(Budget(latency_ms=10_000), ["v3_small"], resolutions=(64, 96), runtime="torch", runs=3)
    assert all(r["p50_ms"] > 0 for r in rows) and best is not None and best["width_mult"] == 1.25
    # per width, the largest resolution fits at once, so the smaller one is never measured
    assert [(r["width_mult"], r["resolution"]) for r in rows] == [(w, 96) for w in (1.25, 1.0, 0.75, 0.5, 0.35)]
    assert registered_widths("mobilenet_v3_small") == [1.25, 1.0, 0.75, 0.5, 0.35]


def test_budget_errors(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(ValueError, match="exactly one budget"):
        Budget()
    with pytest.raises(ValueError, match="must be positive"):
        Budget(macs_m=-1)
    assert main(["fit", "--macs", "1", "--versions", "v2"]) == 2
    assert "no candidate fits the budget" in capsys.readouterr().err
    assert main(["fit", "--macs", "50", "--versions", "v9"]) == 2
    assert "unknown version(s) v9; valid: v1, v2, v3_large, v3_small" in capsys.readouterr().err
