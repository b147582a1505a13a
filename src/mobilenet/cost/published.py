"""The papers' published cost figures, with their sources (``shared/reference/papers.md``).

Keyed by (registered model name, resolution): (million multiply-adds, million params, source).
Read by the README table and by the tests that check our counts against the papers.
"""

from __future__ import annotations

PUBLISHED: dict[tuple[str, int], tuple[float, float, str]] = {
    # V1 paper Table 6 / Table 7 (params 4.2M at every resolution).
    ("mobilenet_v1", 224): (569, 4.2, "V1 Table 6"),
    ("mobilenet_v1_075", 224): (325, 2.6, "V1 Table 6"),
    ("mobilenet_v1_050", 224): (149, 1.3, "V1 Table 6"),
    ("mobilenet_v1_025", 224): (41, 0.5, "V1 Table 6"),
    ("mobilenet_v1", 192): (418, 4.2, "V1 Table 7"),
    ("mobilenet_v1", 160): (290, 4.2, "V1 Table 7"),
    ("mobilenet_v1", 128): (186, 4.2, "V1 Table 7"),
    ("mobilenet_v1_050", 160): (76, 1.32, "V1 Table 9"),
    # V2 paper §4 / Table 4 and the tf-slim checkpoint table.
    # V2 Table 4 prints 3.4M, the truncation of tf-slim's 3.47M.
    ("mobilenet_v2", 224): (300, 3.47, "V2 Table 4, tf-slim V2 README"),
    ("mobilenet_v2_140", 224): (582, 6.06, "tf-slim V2 README"),
    ("mobilenet_v2_130", 224): (509, 5.34, "tf-slim V2 README"),
    ("mobilenet_v2_075", 224): (209, 2.61, "tf-slim V2 README"),
    ("mobilenet_v2_050", 224): (97, 1.95, "tf-slim V2 README"),
    ("mobilenet_v2_035", 224): (59, 1.66, "tf-slim V2 README"),
    # V3 paper (final version) Appendix Table 9.
    ("mobilenet_v3_large_125", 224): (356, 7.5, "V3 Table 9"),
    ("mobilenet_v3_large", 224): (217, 5.4, "V3 Table 9"),
    ("mobilenet_v3_large_075", 224): (155, 4.0, "V3 Table 9"),
    ("mobilenet_v3_large_050", 224): (69, 2.6, "V3 Table 9"),
    ("mobilenet_v3_large_035", 224): (40, 2.2, "V3 Table 9"),
    ("mobilenet_v3_small_125", 224): (91, 3.6, "V3 Table 9"),
    ("mobilenet_v3_small", 224): (57, 2.5, "V3 Table 9"),
    ("mobilenet_v3_small_075", 224): (44, 2.0, "V3 Table 9"),
    ("mobilenet_v3_small_050", 224): (21, 1.6, "V3 Table 9"),
    ("mobilenet_v3_small_035", 224): (12, 1.4, "V3 Table 9"),
    ("mobilenet_v3_large", 256): (282, 5.4, "V3 Table 9"),
    ("mobilenet_v3_large", 192): (160, 5.4, "V3 Table 9"),
    ("mobilenet_v3_large", 160): (112, 5.4, "V3 Table 9"),
    ("mobilenet_v3_large", 128): (73, 5.4, "V3 Table 9"),
    ("mobilenet_v3_large", 96): (43, 5.4, "V3 Table 9"),
    ("mobilenet_v3_small", 256): (74, 2.5, "V3 Table 9"),
    ("mobilenet_v3_small", 160): (30, 2.5, "V3 Table 9"),
    ("mobilenet_v3_small", 128): (20, 2.5, "V3 Table 9"),
    ("mobilenet_v3_small", 96): (12, 2.5, "V3 Table 9"),
    ("mobilenet_v3_large_minimal", 224): (209, 3.9, "tf-slim V3 README"),
    ("mobilenet_v3_small_minimal", 224): (65, 2.0, "tf-slim V3 README"),
    # V4 paper's ImageNet table (read in two secondary copies, papers.md §4.1); MACs printed in G.
    ("mobilenet_v4_conv_small", 224): (200, 3.8, "V4 ImageNet table"),
    ("mobilenet_v4_conv_medium", 256): (1000, 9.2, "V4 ImageNet table"),
    ("mobilenet_v4_conv_large", 384): (5900, 31, "V4 ImageNet table"),
    ("mobilenet_v4_hybrid_medium", 256): (1200, 10.5, "V4 ImageNet table"),
    ("mobilenet_v4_hybrid_large", 384): (7200, 35.9, "V4 ImageNet table"),
}

# Figures printed coarser than their digits say: the V4 table gives MACs in G to one decimal.
MACS_PRINTED_TO: dict[tuple[str, int], float] = {
    ("mobilenet_v4_conv_small", 224): 100.0,
    ("mobilenet_v4_conv_medium", 256): 100.0,
    ("mobilenet_v4_conv_large", 384): 100.0,
    ("mobilenet_v4_hybrid_medium", 256): 100.0,
    ("mobilenet_v4_hybrid_large", 384): 100.0,
}

# ImageNet top-1 (%) of the published checkpoints, keyed like PUBLISHED (papers.md §1.5, §2.5, §3.6, §3.7,
# §4.1): TF-slim's V1 and V2 grids (retrained checkpoints; the papers plot these grids without numbers), V3
# Table 9, tf-slim's minimalistic checkpoints, and the V4 table (secondary copies; resolutions as registered).
PUBLISHED_TOP1: dict[tuple[str, int], tuple[float, str]] = {
    **{(f"mobilenet_v1{suffix}", resolution): (top1, "tf-slim V1 checkpoints")
       for suffix, row in (("", (70.9, 70.0, 68.0, 65.2)), ("_075", (68.4, 67.2, 65.3, 62.1)),
                           ("_050", (63.3, 61.7, 59.1, 56.3)), ("_025", (49.8, 47.7, 45.5, 41.5)))
       for resolution, top1 in zip((224, 192, 160, 128), row)},
    **{(f"mobilenet_v2{suffix}", resolution): (top1, "tf-slim V2 checkpoints")
       for suffix, row in (("", (71.8, 70.7, 68.8, 65.3, 60.3)), ("_075", (69.8, 68.7, 66.4, 63.2, 58.8)),
                           ("_050", (65.4, 63.9, 61.0, 57.7, 51.2)), ("_035", (60.3, 58.2, 55.7, 50.8, 45.5)))
       for resolution, top1 in zip((224, 192, 160, 128, 96), row)},
    ("mobilenet_v2_140", 224): (75.0, "tf-slim V2 checkpoints"),
    ("mobilenet_v2_130", 224): (74.4, "tf-slim V2 checkpoints"),
    **{(f"mobilenet_v3_large{suffix}", 224): (top1, "V3 Table 9")
       for suffix, top1 in (("_125", 76.6), ("", 75.2), ("_075", 73.3), ("_050", 68.8), ("_035", 64.2))},
    **{("mobilenet_v3_large", resolution): (top1, "V3 Table 9")
       for resolution, top1 in ((256, 76.0), (192, 73.7), (160, 71.7), (128, 68.4), (96, 63.3))},
    **{(f"mobilenet_v3_small{suffix}", 224): (top1, "V3 Table 9")
       for suffix, top1 in (("_125", 70.4), ("", 67.5), ("_075", 65.4), ("_050", 58.0), ("_035", 49.8))},
    **{("mobilenet_v3_small", resolution): (top1, "V3 Table 9")
       for resolution, top1 in ((256, 68.5), (160, 62.8), (128, 57.3), (96, 51.7))},
    ("mobilenet_v3_large_minimal", 224): (72.3, "tf-slim V3 checkpoints"),
    ("mobilenet_v3_small_minimal", 224): (61.9, "tf-slim V3 checkpoints"),
    ("mobilenet_v4_conv_small", 224): (73.8, "V4 ImageNet table"),
    ("mobilenet_v4_conv_medium", 256): (79.9, "V4 ImageNet table"),
    ("mobilenet_v4_conv_large", 384): (82.9, "V4 ImageNet table"),
    ("mobilenet_v4_hybrid_medium", 256): (80.7, "V4 ImageNet table"),
    ("mobilenet_v4_hybrid_large", 384): (83.4, "V4 ImageNet table"),
}
