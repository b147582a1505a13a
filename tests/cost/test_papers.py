"""Our cost accounting against the published figures (``shared/reference/papers.md``).

Tolerance (issue 2): within 1% of MACs and 2% of params, or the rounding of the published
figure, whichever is larger. Cells we cannot reproduce are marked ``xfail(strict=True)`` with
the reason, so a fix that makes them pass is noticed.
"""

from __future__ import annotations

import math

import pytest

from mobilenet import create_model, profile
from mobilenet.cli.models import size_key
from mobilenet.cost import conv_cost
from mobilenet.cost.published import MACS_PRINTED_TO, PUBLISHED
from mobilenet.models.registry import get_entry


def decimals(figure: float) -> int:
    text = repr(float(figure)).rstrip("0").rstrip(".")
    return len(text.split(".")[1]) if "." in text else 0


def close(ours_m: float, published: float, relative: float, printed_to: float = 0.0) -> bool:
    """Within ``relative`` of the figure, or within half a unit of its last printed digit
    (``printed_to``: that unit when the table prints in a coarser unit, e.g. V4's 0.1G)."""
    half_unit = 0.5 * max(10 ** -decimals(published), printed_to)
    return abs(ours_m - published) <= max(relative * published, half_unit)


def cost_m(name: str, resolution: int) -> tuple[float, float]:
    result = profile(create_model(name, resolution=resolution))
    return result.macs / 1e6, result.params / 1e6


KNOWN_MISMATCHES = {
    ("mobilenet_v3_large_050", 224): "Table 9 prints 2.6M params; the spec gives 2.68M (3% more) while "
    "its 69M MAdds match: not reproduced with tf-slim's rounding",
    ("mobilenet_v3_large_035", 224): "Table 9 prints 40M / 2.2M; the spec gives 39.47M (0.03M below the "
    "printed rounding) and 2.12M (3.5% less)",
    ("mobilenet_v3_small_125", 224): "Table 9 prints 3.6M params in both paper versions although Small 1.0 "
    "changed from 2.9M to 2.5M between them: a stale cell; the final spec gives 3.19M (its 91M MAdds match)",
    ("mobilenet_v3_small_075", 224): "Table 9 prints 44M MAdds; the final spec gives 43.4M (1.4% less), "
    "its 2.0M params match",
    ("mobilenet_v3_small_035", 224): "Table 9 prints 12M / 1.4M; the final spec gives 12.8M / 1.35M",
    ("mobilenet_v3_small", 256): "Table 9 prints 74M; the final spec gives 73.2M (1.1% less) while "
    "160, 128 and 96 match",
    ("mobilenet_v3_small_minimal", 224): "tf-slim's V3-Small figures come from the paper's first version "
    "(Small 1.0: 66M there, 56M in the final Table 9); minimal prints 65M, the final spec gives 52.3M "
    "(its 2.0M params match)",
    ("mobilenet_v4_conv_medium", 256): "we build timm's conv_medium, whose weights exist: 1.08G / 9.65M "
    "(9.72M with BN, as timm's model card says) against the paper's 1.0G / 9.2M",
    ("mobilenet_v4_conv_large", 384): "we build timm's conv_large, whose weights exist: 6.38G / 32.4M "
    "(32.59M with BN, as timm's model card says) against the paper's 5.9G / 31M",
    ("mobilenet_v4_hybrid_medium", 256): "we build timm's hybrid_medium, whose weights exist: 1.27G / 11.0M "
    "(11.07M with BN, as timm's model card says) against the paper's 1.2G / 10.5M",
    ("mobilenet_v4_hybrid_large", 384): "we build timm's hybrid_large, whose weights exist: 7.71G / 37.6M "
    "(37.76M with BN, as timm's model card says) against the paper's 7.2G / 35.9M",
}


def published_cases() -> list[object]:
    cases = []
    for (name, resolution), (macs, params, source) in sorted(PUBLISHED.items(), key=lambda item: size_key(item[0])):
        if get_entry(name).task != "classification":
            continue  # task models' rows are tested by their task (tests/tasks/), with their issue's tolerance
        marks = []
        if (name, resolution) in KNOWN_MISMATCHES:
            marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_MISMATCHES[name, resolution]))
        cases.append(pytest.param(name, resolution, macs, params, source, marks=marks,
                                  id=f"{name}-{resolution}"))
    return cases


@pytest.mark.parametrize(("name", "resolution", "macs", "params", "source"), published_cases())
def test_published_macs_and_params(name: str, resolution: int, macs: float, params: float, source: str) -> None:
    ours_macs, ours_params = cost_m(name, resolution)
    assert close(ours_macs, macs, 0.01, MACS_PRINTED_TO.get((name, resolution), 0.0)), \
        f"{source}: {ours_macs:.2f}M MACs vs published {macs}M"
    assert close(ours_params, params, 0.02), f"{source}: {ours_params:.3f}M params vs published {params}M"


# tf-slim mobilenet_v1.md: MACs (M) at 224/192/160/128 and params (M) per width.
SLIM_V1 = {
    1.0: ((569, 418, 291, 186), 4.24),
    0.75: ((317, 233, 162, 104), 2.59),
    0.5: ((150, 110, 77, 49), 1.34),
    0.25: ((41, 34, 21, 14), 0.47),
}
SLIM_V1_MISMATCHES = {
    (0.75, 224): "slim prints 317 but the V1 paper's Table 6 prints 325 for the same model, which we match",
    (0.75, 192): "slim prints 233 but the V1 paper's Table 10 prints 239 for 0.75-192, which we match",
    (0.75, 160): "slim's 0.75 row is 2.5% below the paper's counting throughout (see 224 and 192)",
    (0.75, 128): "slim's 0.75 row is 2.5% below the paper's counting throughout (see 224 and 192)",
    (0.25, 192): "misprint: 34 does not fit slim's own 41 at 224 and 21 at 160 (quadratic in size gives 30)",
}


def slim_v1_cases() -> list[object]:
    cases = []
    for width, (macs_row, params) in SLIM_V1.items():
        for resolution, macs in zip((224, 192, 160, 128), macs_row):
            reason = SLIM_V1_MISMATCHES.get((width, resolution))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            cases.append(pytest.param(width, resolution, macs, params, marks=marks, id=f"{width}-{resolution}"))
    return cases


@pytest.mark.parametrize(("width", "resolution", "macs", "params"), slim_v1_cases())
def test_tf_slim_v1_grid(width: float, resolution: int, macs: float, params: float) -> None:
    model = create_model("mobilenet_v1", width_mult=width)
    result = profile(model, resolution)
    assert close(result.macs / 1e6, macs, 0.01), result.macs
    assert close(result.params / 1e6, params, 0.02), result.params


# tf-slim mobilenet/README.md, V2 checkpoints: MACs (M) at 224/192/160/128/96, params (M).
SLIM_V2 = {
    1.4: ((582,), 6.06),
    1.3: ((509,), 5.34),
    1.0: ((300, 221, 154, 99, 56), 3.47),
    0.75: ((209, 153, 107, 69, 39), 2.61),
    0.5: ((97, 71, 50, 32, 18), 1.95),
    0.35: ((59, 43, 30, 20, 11), 1.66),
}


@pytest.mark.parametrize(
    ("width", "resolution", "macs", "params"),
    [(w, r, m, p) for w, (row, p) in SLIM_V2.items() for r, m in zip((224, 192, 160, 128, 96), row)],
)
def test_tf_slim_v2_grid(width: float, resolution: int, macs: int, params: float) -> None:
    """The slim table truncates MACs to whole millions (0.35-96 is 11.9M, printed 11): exact floor."""
    result = profile(create_model("mobilenet_v2", width_mult=width), resolution)
    assert math.floor(result.macs / 1e6) == macs, result.macs
    assert close(result.params / 1e6, params, 0.02)


@pytest.mark.parametrize(
    ("name", "params", "gflops"),
    [("mobilenet_v2", 3_504_872, 0.301), ("mobilenet_v3_large", 5_483_032, 0.217),
     ("mobilenet_v3_small", 2_542_856, 0.057)],
)
def test_torchvision_published_meta(name: str, params: int, gflops: float) -> None:
    """torchvision counts BN affine params and reports MACs as 'GFLOPS' (papers.md §5.1)."""
    result = profile(create_model(name))
    assert result.params_with_bn == params
    assert round(result.macs / 1e9, 3) == gflops


def test_v1_table_4_standard_convolutions() -> None:
    """V1 Table 4: Conv MobileNet 4866M / 29.3M against MobileNet 569M / 4.2M."""
    model = create_model("mobilenet_v1")
    full, separable = profile(model, as_standard_conv=True), profile(model)
    assert close(full.macs / 1e6, 4866, 0.01) and close(full.params / 1e6, 29.3, 0.02)
    assert close(separable.macs / 1e6, 569, 0.01) and close(separable.params / 1e6, 4.2, 0.02)


def test_v1_table_3_one_layer() -> None:
    """V1 Table 3: D_K=3, M=N=512, D_F=14 costs 462M vs 52.3M; with alpha 0.75, rho 0.714."""
    layer = conv_cost(512, 512, 3, 14)
    assert round(layer.standard_macs / 1e6) == 462 and round(layer.standard_params / 1e6, 2) == 2.36
    assert round(layer.separable_macs / 1e6, 1) == 52.3 and round(layer.separable_params / 1e6, 2) == 0.27
    narrow = conv_cost(384, 384, 3, 14)
    assert round(narrow.separable_macs / 1e6, 1) == 29.6 and round(narrow.separable_params / 1e6, 2) == 0.15
    low_res = conv_cost(384, 384, 3, 10)
    assert round(low_res.separable_macs / 1e6, 1) == 15.1
    assert layer.ratio == pytest.approx(1 / 512 + 1 / 9)


def test_v1_table_2_resource_shares() -> None:
    """V1 Table 2: 1x1 convs take 94.86% of Mult-Adds and 74.59% of params."""
    result = profile(create_model("mobilenet_v1"))
    share = {}
    for row in result.layers:
        kind = row.kind.split()[0]
        share[kind] = share.get(kind, (0, 0))
        share[kind] = (share[kind][0] + row.macs, share[kind][1] + row.params)
    macs_share = {k: 100 * v[0] / result.macs for k, v in share.items()}
    params_share = {k: 100 * v[1] / result.params for k, v in share.items()}
    assert macs_share["pw"] == pytest.approx(94.86, abs=0.1)
    assert macs_share["dw"] == pytest.approx(3.06, abs=0.05)
    assert params_share["pw"] == pytest.approx(74.59, abs=0.1)
    assert params_share["fc"] == pytest.approx(24.33, abs=0.1)
