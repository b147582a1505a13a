"""Our segmenters against V2 Table 7 and V3 Tables 7-8 (``shared/reference/papers.md`` §2.7, §3.10).

Counted as the tables count (``mobilenet.tasks.segmentation.published``): MAdds of convs at the input
size (V3: TF DeepLab's 1025x2049 Cityscapes crop, plus three operations per h-swish output), params
of the BN-folded graph (weights and one bias per conv channel). Within 1% of MAdds and 2% of params;
cells we cannot reproduce are strict xfails with the measured gap.
"""

from __future__ import annotations

import pytest

import mobilenet
from mobilenet.tasks.segmentation.published import PAPER_ROWS, PaperRow, hswish_outputs

MISMATCHES = {
    "V2 Table 7: MNet V2*, OS16, ASPP": "params match (4.51M against 4.52M) but MAdds are 5.36B against 5.8B "
    "(-7.5%): the three 3x3 ASPP convs on the 33x33 map add 2.62B for their 2.21M weights, the table implies "
    "about 3.05B; the R-ASPP row of the same model matches within 0.4%",
    "V2 Table 7: MNet V1, OS16, ASPP": "params match (11.13M against 11.15M) but MAdds are 12.76B against "
    "14.25B (-10.4%), the same shortfall in the ASPP part as the V2* ASPP row",
    "V3 Table 7 row 9: V2 0.5, RF2, LR-ASPP, F=128": "3.96B / 0.276M against 4.00B / 0.28M: MAdds 1.0% "
    "below (rows 3 and 4, the same model at width 1.0, match within 0.6%)",
    "V3 Table 7 row 10: V2 0.35, RF2, LR-ASPP, F=128": "2.50B / 0.164M against 2.54B / 0.16M: MAdds 1.7% "
    "below and params 2.3% above; the channel rounding at 0.35 is not TF DeepLab's (divisible_by=1 gives "
    "1.98B) nor tf-slim's exactly",
}


def paper_cost(row: PaperRow) -> tuple[float, float]:
    model = mobilenet.create_model(row.model, **row.options)
    cost = mobilenet.profile(model, row.resolution)
    macs = cost.macs + (3 * hswish_outputs(model, cost) if row.hswish_ops else 0)
    folded = cost.params + (cost.params_with_bn - cost.params) // 2  # BN folded: one bias per channel
    return macs / 1e9, folded / 1e6


def cases() -> list[object]:
    return [pytest.param(row, id=row.source, marks=[pytest.mark.xfail(strict=True, reason=MISMATCHES[row.source])]
                         if row.source in MISMATCHES else []) for row in PAPER_ROWS]


@pytest.mark.parametrize("row", cases())
def test_paper_rows(row: PaperRow) -> None:
    macs, params = paper_cost(row)
    assert abs(macs - row.macs_b) <= 0.01 * row.macs_b, f"{macs:.3f}B MAdds against {row.macs_b}B"
    assert abs(params - row.params_m) <= max(0.02 * row.params_m, 0.005), f"{params:.3f}M params against {row.params_m}M"


def test_the_h_swish_term_is_what_separates_v3_from_v2_rows() -> None:
    """Without the h-swish operations every V3 cell is 1.5-4.7% low, while V2 rows (no h-swish) match:
    the counting convention, not the architecture, differs."""
    for row in PAPER_ROWS:
        model = mobilenet.create_model(row.model, **row.options)
        cost = mobilenet.profile(model, row.resolution)
        ops = hswish_outputs(model, cost)
        assert (ops > 0) == row.hswish_ops
        if row.hswish_ops:
            assert 0.01 <= 1 - cost.macs / 1e9 / row.macs_b <= 0.05
