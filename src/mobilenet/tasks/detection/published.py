"""The papers' detection cost figures (``shared/reference/papers.md`` §2.6, §3.8), all at 320x320.

``DETECTION_PUBLISHED`` is keyed as ``mobilenet.cost.published.PUBLISHED`` (registered detector,
resolution) -> (M multiply-adds, M params, source) and joins it when the package is imported, so
``mobilenet table`` shows the rows. Which head settings reproduce them (worked out from the counts):

- the V2 paper's rows (Tables 5-6, reprinted in V3 Table 6 as 5.1M / 1.3B and 4.3M / 0.80B) predict
  80 classes + background, as Table 5's caption says; with 90 + 1 V2 would have 4.45M;
- the V3 paper's rows predict COCO's 90 ids + background (TF Object Detection's configs); its
  V2-0.35/0.5 rows shrink the 1280 conv with the width (TF's feature extractor, ``shrink_last_conv``):
  keeping 1280 gives 1.59M / 2.10M instead of 0.93M / 1.54M;
- every row: 3 anchors on the first map and 6 elsewhere, 3x3 predictors, extra layers 512/256/256/128.
"""

from __future__ import annotations

DETECTION_PUBLISHED: dict[tuple[str, int], tuple[float, float, str]] = {
    ("ssdlite_mobilenet_v1", 320): (1300, 5.1, "V2 Table 6"),
    ("ssdlite_mobilenet_v2", 320): (800, 4.3, "V2 Table 6"),
    ("ssdlite_mobilenet_v3_large", 320): (620, 4.97, "V3 Table 6"),
    ("ssdlite_mobilenet_v3_large_reduced", 320): (510, 3.22, "V3 Table 6"),
    ("ssdlite_mobilenet_v3_small", 320): (210, 2.49, "V3 Table 6"),
    ("ssdlite_mobilenet_v3_small_reduced", 320): (160, 1.77, "V3 Table 6"),
    ("ssdlite_mobilenet_v2_035", 320): (160, 0.93, "V3 Table 6"),
    ("ssdlite_mobilenet_v2_050", 320): (270, 1.54, "V3 Table 6"),
}

# The unit of the printed MAdds, in M (the V2 paper prints 1.3B and 0.8B, the V3 paper two decimals).
DETECTION_MACS_PRINTED_TO: dict[tuple[str, int], float] = {
    key: 100.0 if source.startswith("V2") else 10.0 for key, (_, _, source) in DETECTION_PUBLISHED.items()
}

# V2 Table 5: the heads alone (extra layers and predictors, 80 classes, on V2 at 320).
DETECTION_HEADS_PUBLISHED: dict[tuple[str, int], tuple[float, float, str]] = {
    ("ssd_mobilenet_v2", 320): (1250, 14.8, "V2 Table 5 (head)"),
    ("ssdlite_mobilenet_v2", 320): (350, 2.1, "V2 Table 5 (head)"),
}
