"""The papers' segmentation cost figures (``shared/reference/papers.md`` §2.7, §3.10), and how they count.

- V2 Table 7 (PASCAL VOC, 513x513, 21 classes): conv multiply-adds and weights, as the classifiers.
- V3 Tables 7 and 8 (Cityscapes, 19 classes, "1024x2048"): the MAdds are those of TF DeepLab's
  Cityscapes evaluation crop, 1025x2049, plus three operations per h-swish output (``x + 3``, the
  clip, the product; V3 §5.2). Counted so, all seven V3 cells are reproduced within 0.5%; the V2
  rows of the same table need neither (no h-swish) and match at 1025x2049 within 0.4%.

``PAPER_ROWS`` are every single-scale row with the options that build it; the rows that are
registered defaults also join ``mobilenet.cost.published.PUBLISHED`` (the README table).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from mobilenet.cost.profile import Profile

CITYSCAPES = (1025, 2049)
"""TF DeepLab evaluates Cityscapes' 1024x2048 images in a 1025x2049 crop (``eval_crop_size``)."""


@dataclass(frozen=True)
class PaperRow:
    source: str
    model: str
    resolution: int | tuple[int, int]
    macs_b: float
    params_m: float
    options: dict[str, Any] = field(default_factory=dict)
    hswish_ops: bool = False
    """Whether the published MAdds include three operations per h-swish output (V3 Tables 7-8)."""


_CS = {"num_classes": 19}
PAPER_ROWS: tuple[PaperRow, ...] = (
    PaperRow("V2 Table 7: MNet V2*, OS16, R-ASPP", "deeplabv3_mobilenet_v2", 513, 2.75, 2.11),
    PaperRow("V2 Table 7: MNet V2*, OS16, ASPP", "deeplabv3_mobilenet_v2", 513, 5.8, 4.52, {"aspp": True}),
    PaperRow("V2 Table 7: MNet V1, OS16, ASPP", "deeplabv3_mobilenet_v1", 513, 14.25, 11.15, {"aspp": True}),
    PaperRow("V3 Table 7 row 1: V2, R-ASPP, F=256", "deeplabv3_mobilenet_v2", CITYSCAPES, 21.29, 2.11, _CS),
    PaperRow("V3 Table 7 row 2: V2, RF2, R-ASPP, F=256", "deeplabv3_mobilenet_v2", CITYSCAPES, 13.68, 1.15,
             {**_CS, "reduced_tail": True}),
    PaperRow("V3 Table 7 row 3: V2, RF2, LR-ASPP, F=256", "lraspp_mobilenet_v2", CITYSCAPES, 12.83, 1.02,
             {**_CS, "head": {"channels": 256}}),
    PaperRow("V3 Table 7 row 4: V2, RF2, LR-ASPP, F=128", "lraspp_mobilenet_v2", CITYSCAPES, 12.57, 0.98, _CS),
    PaperRow("V3 Table 7 row 5: V3, R-ASPP, F=256", "deeplabv3_mobilenet_v3_large", CITYSCAPES, 18.43, 3.60, _CS,
             hswish_ops=True),
    PaperRow("V3 Table 7 row 6: V3, RF2, R-ASPP, F=256", "deeplabv3_mobilenet_v3_large", CITYSCAPES, 11.24, 1.76,
             {**_CS, "reduced_tail": "segmentation"}, hswish_ops=True),
    PaperRow("V3 Table 7 row 7: V3, RF2, LR-ASPP, F=256", "lraspp_mobilenet_v3_large", CITYSCAPES, 10.33, 1.63,
             {**_CS, "head": {"channels": 256}}, hswish_ops=True),
    PaperRow("V3 Table 7 row 8: V3, RF2, LR-ASPP, F=128", "lraspp_mobilenet_v3_large", CITYSCAPES, 9.74, 1.51, _CS,
             hswish_ops=True),
    PaperRow("V3 Table 7 row 9: V2 0.5, RF2, LR-ASPP, F=128", "lraspp_mobilenet_v2", CITYSCAPES, 4.00, 0.28,
             {**_CS, "width_mult": 0.5}),
    PaperRow("V3 Table 7 row 10: V2 0.35, RF2, LR-ASPP, F=128", "lraspp_mobilenet_v2", CITYSCAPES, 2.54, 0.16,
             {**_CS, "width_mult": 0.35}),
    PaperRow("V3 Table 7 row 11: V3-Small, RF2, LR-ASPP, F=128", "lraspp_mobilenet_v3_small", CITYSCAPES, 2.90,
             0.47, _CS, hswish_ops=True),
    PaperRow("V3 Table 8: V3, OS32", "lraspp_mobilenet_v3_large", CITYSCAPES, 7.74, 1.51,
             {**_CS, "output_stride": 32}, hswish_ops=True),
    PaperRow("V3 Table 8: V3-Small, OS32", "lraspp_mobilenet_v3_small", CITYSCAPES, 2.06, 0.47,
             {**_CS, "output_stride": 32}, hswish_ops=True),
)

# The rows whose model is a registered default (VOC's 21 classes: the Cityscapes rows differ by
# the two extra classes' 1x1 weights, under 0.2%), for the README table.
SEGMENTATION_PUBLISHED: dict[tuple[str, Any], tuple[float, float, str]] = {
    ("deeplabv3_mobilenet_v2", 513): (2750, 2.11, "V2 Table 7 (MNet V2*, R-ASPP)"),
    ("deeplabv3_mobilenet_v2", CITYSCAPES): (21290, 2.11, "V3 Table 7 row 1"),
    ("deeplabv3_mobilenet_v3_large", CITYSCAPES): (18430, 3.60, "V3 Table 7 row 5"),
    ("lraspp_mobilenet_v3_large", CITYSCAPES): (9740, 1.51, "V3 Table 7 row 8"),
    ("lraspp_mobilenet_v3_small", CITYSCAPES): (2900, 0.47, "V3 Table 7 row 11"),
}


def hswish_outputs(model: nn.Module, cost: Profile) -> int:
    """How many values the h-swish activations of ``model`` produce for ``cost``'s input: the output
    size of every conv whose unit ends in ``nn.Hardswish`` (read from the profile's rows)."""
    total = 0
    for row in cost.layers:
        unit = row.layer.rsplit(".", 1)[0] if row.layer.endswith(".conv") else None
        try:
            act = model.get_submodule(unit).act if unit else None
        except AttributeError:
            act = None
        if isinstance(act, nn.Hardswish):
            total += math.prod(row.output_shape)
    return total
