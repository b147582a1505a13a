"""SSD and SSDLite heads as data: one frozen spec per registered detector (V1 paper §4.7 Table 13,
V2 paper §6.2 Tables 5-6, V3 paper §6.3 Table 6).

A detector is a backbone (a registered classifier built ``features_only`` with two taps, C4 at
output stride 16 and C5 at 32) plus a head: four extra layers that halve the map each time
(512/256/256/128 channels, scaled with the width as TF Object Detection's ``depth_multiplier``)
and, on each of the six maps, a box predictor and a class predictor. SSD uses regular convs;
SSDLite (V2 §6.2) replaces them by separable ones (3x3 depthwise + BN + ReLU6, then 1x1).

Anchors, box coding, score function and post-processing are fields too: TF Object Detection's
``ssd_anchor_generator`` with sigmoid scores for the TF rows, torchvision's ``DefaultBoxGenerator``
with softmax scores for ``ssdlite320_mobilenet_v3_large``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

AnchorKind = Literal["ssd", "torchvision"]
ScoreFn = Literal["sigmoid", "softmax"]
NmsKind = Literal["per_class", "class_agnostic"]
SCORE_FNS: tuple[str, ...] = ("sigmoid", "softmax")
NMS_KINDS: tuple[str, ...] = ("per_class", "class_agnostic")


@dataclass(frozen=True)
class AnchorSpec:
    """Default boxes per map: scales evenly spaced from ``min_scale`` to ``max_scale`` (SSD paper eq. 4).

    ``ssd`` is TF Object Detection's ``ssd_anchor_generator``: on each map the ``aspect_ratios`` at
    its scale plus one box of scale sqrt(s_k * s_k+1) (aspect 1); with ``reduce_lowest`` the first map
    has only (0.1, 1), (s_0, 2), (s_0, 1/2). ``torchvision`` is its ``DefaultBoxGenerator``: (s_k, 1),
    (sqrt(s_k s_k+1), 1), then each ratio r and 1/r of ``aspect_ratios`` (given as r >= 1), widths
    clipped to 1.
    """

    kind: AnchorKind = "ssd"
    min_scale: float = 0.2
    max_scale: float = 0.95
    aspect_ratios: tuple[float, ...] = (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)
    reduce_lowest: bool = True

    def boxes_per_location(self, maps: int) -> tuple[int, ...]:
        """How many anchors each of ``maps`` maps has at every location."""
        if self.kind == "torchvision":
            return (2 + 2 * len(self.aspect_ratios),) * maps
        full = len(self.aspect_ratios) + 1
        return tuple(3 if k == 0 and self.reduce_lowest else full for k in range(maps))


@dataclass(frozen=True)
class PostprocessSpec:
    """Box decoding and NMS of eval mode and of the exported file (``export_form(postprocess=True)``).

    ``per_class``: NMS within each class (torchvision, TF's regular NMS); ``class_agnostic``: each
    anchor keeps its best class, then one NMS over anchors (TFLite's fast ``TFLite_Detection_PostProcess``).
    ``candidates``: highest-scoring boxes per class (per image when class-agnostic) that enter NMS.
    """

    nms: NmsKind = "per_class"
    score_threshold: float = 0.01
    iou_threshold: float = 0.6
    max_detections: int = 100
    candidates: int = 300


@dataclass(frozen=True)
class DetectorSpec:
    """One registered detector: backbone, taps, head and the TF/torchvision conventions it follows."""

    name: str
    backbone: str
    """The registered classifier (its name gives the default width)."""
    paper: str
    """Where the head is described (``mobilenet list`` shows it)."""
    separable: bool
    """SSDLite (V2 §6.2): separable convs in the extra layers and predictors; SSD: regular convs."""
    feature_location: Literal["block", "expansion"] = "expansion"
    """C4 tap: the expansion of the block that leaves output stride 16 (V2 §6.2, V3 §6.3), or the
    last block output at stride 16 (V1, TF Object Detection's ``Conv2d_11_pointwise``)."""
    backbone_options: Mapping[str, Any] = field(default_factory=dict)
    """E.g. ``reduced_tail`` (V3 †) or ``convention="torchvision"``."""
    extra_channels: tuple[int, ...] = (512, 256, 256, 128)
    min_depth: int = 16
    predictor_kernel: int = 3
    """Kernel of the predictors (SSDLite: of their depthwise conv); TF's SSD V1 uses 1x1."""
    anchors: AnchorSpec = AnchorSpec()
    box_weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)
    """Box coder scale factors for (x, y, w, h) (SSD; TF's y/x/h/w scales 10/10/5/5)."""
    score_fn: ScoreFn = "sigmoid"
    postprocess: PostprocessSpec = PostprocessSpec()
    resolution: int = 320
    num_classes: int = 90
    """COCO's 90 category ids (TF label maps and torchvision keep the gaps of the 80 classes)."""
    bn_eps: float | None = None
    bn_momentum: float | None = None
    """None: the backbone's (``bn_eps`` and ``bn_momentum`` apply to backbone and head alike)."""
    description: str = ""

    def __post_init__(self) -> None:
        if self.score_fn not in SCORE_FNS:
            raise ValueError(f"score_fn must be one of {', '.join(SCORE_FNS)}, got {self.score_fn!r}")
        if self.postprocess.nms not in NMS_KINDS:
            raise ValueError(f"nms must be one of {', '.join(NMS_KINDS)}, got {self.postprocess.nms!r}")


# TF Object Detection's SSD heads (``ssd_mobilenet_v*_coco.config``): sigmoid scores, per-class
# NMS at IoU 0.6 for evaluation; 3 anchors on the first map, 6 elsewhere.
_TF = dict(score_fn="sigmoid", anchors=AnchorSpec("ssd"), postprocess=PostprocessSpec("per_class", 0.01, 0.6, 100))
# V3 §6.3: C4 is the expansion of bneck 13 (Large) / 9 (Small), C5 the last conv before pooling.
_V3_REDUCED = {"reduced_tail": True}

DETECTORS: tuple[DetectorSpec, ...] = (
    # V1 as TF Object Detection's ssd_mobilenet_v1: Conv2d_11_pointwise and Conv2d_13_pointwise,
    # regular 1x1 predictors, 300x300 (the COCO TFLite file is this head at width 0.75).
    DetectorSpec("ssd_mobilenet_v1", "mobilenet_v1", "V1 Table 13, TF OD", separable=False, feature_location="block",
                 predictor_kernel=1, resolution=300, bn_eps=1e-3, **_TF,
                 description="SSD on MobileNetV1 as TF Object Detection's ssd_mobilenet_v1 (V1 Table 13)"),
    DetectorSpec("ssd_mobilenet_v1_075", "mobilenet_v1_075", "V1 Table 13, TF OD", separable=False, feature_location="block",
                 predictor_kernel=1, resolution=300, bn_eps=1e-3, **_TF,
                 description="ssd_mobilenet_v1 at width 0.75 (the COCO TFLite file's architecture)"),
    # The V2 paper's rows predict 80 classes (Table 5's caption); its V1/V2 figures need 80 + 1.
    DetectorSpec("ssdlite_mobilenet_v1", "mobilenet_v1", "V2 Table 6", separable=True, feature_location="block", num_classes=80,
                 **_TF, description="SSDLite on MobileNetV1 (V2 Table 6)"),
    DetectorSpec("ssd_mobilenet_v2", "mobilenet_v2", "V2 Table 5", separable=False, num_classes=80, **_TF,
                 description="SSD (regular 3x3 convs) on MobileNetV2 (V2 Table 5)"),
    DetectorSpec("ssdlite_mobilenet_v2", "mobilenet_v2", "V2 Tables 5-6", separable=True, num_classes=80, **_TF,
                 description="SSDLite on MobileNetV2 (V2 §6.2, Tables 5-6)"),
    # The V3 paper's rows predict COCO's 90 ids + background, and its V2-0.35/0.5 rows shrink the
    # 1280 conv with the width, as TF Object Detection's feature extractor does.
    DetectorSpec("ssdlite_mobilenet_v2_050", "mobilenet_v2_050", "V3 Table 6", separable=True,
                 backbone_options={"shrink_last_conv": True}, **_TF,
                 description="SSDLite on MobileNetV2 0.5 (V3 Table 6)"),
    DetectorSpec("ssdlite_mobilenet_v2_035", "mobilenet_v2_035", "V3 Table 6", separable=True,
                 backbone_options={"shrink_last_conv": True}, **_TF,
                 description="SSDLite on MobileNetV2 0.35 (V3 Table 6)"),
    DetectorSpec("ssdlite_mobilenet_v3_large", "mobilenet_v3_large", "V3 Table 6", separable=True, **_TF,
                 description="SSDLite on MobileNetV3-Large, C4/C5 taps (V3 §6.3, Table 6)"),
    DetectorSpec("ssdlite_mobilenet_v3_large_reduced", "mobilenet_v3_large", "V3 Table 6", separable=True,
                 backbone_options=_V3_REDUCED, **_TF,
                 description="SSDLite on MobileNetV3-Large with the reduced tail (V3 Table 6, †)"),
    DetectorSpec("ssdlite_mobilenet_v3_small", "mobilenet_v3_small", "V3 Table 6", separable=True, **_TF,
                 description="SSDLite on MobileNetV3-Small, C4/C5 taps (V3 §6.3, Table 6)"),
    DetectorSpec("ssdlite_mobilenet_v3_small_reduced", "mobilenet_v3_small", "V3 Table 6", separable=True,
                 backbone_options=_V3_REDUCED, **_TF,
                 description="SSDLite on MobileNetV3-Small with the reduced tail (V3 Table 6, †)"),
    DetectorSpec("ssdlite_mobilenet_v4_conv_small", "mobilenet_v4_conv_small", "V3 §6.3 taps", separable=True, **_TF,
                 description="SSDLite on MobileNetV4-Conv-S, C4/C5 taps as V3"),
    DetectorSpec("ssdlite_mobilenet_v4_conv_medium", "mobilenet_v4_conv_medium", "V3 §6.3 taps", separable=True, **_TF,
                 description="SSDLite on MobileNetV4-Conv-M, C4/C5 taps as V3"),
    # torchvision's ssdlite320_mobilenet_v3_large, exactly: its V3 convention with the reduced tail
    # (its COCO weights were trained with it), BN eps 0.001 / momentum 0.03,
    # DefaultBoxGenerator([[2, 3]] * 6, 0.2, 0.95), softmax, NMS 0.55, 300 detections.
    DetectorSpec("ssdlite320_mobilenet_v3_large", "mobilenet_v3_large", "torchvision", separable=True,
                 backbone_options={"reduced_tail": True, "convention": "torchvision"},
                 anchors=AnchorSpec("torchvision", 0.2, 0.95, (2.0, 3.0)), score_fn="softmax",
                 postprocess=PostprocessSpec("per_class", 0.001, 0.55, 300, 300), bn_eps=1e-3, bn_momentum=0.03,
                 description="torchvision's ssdlite320_mobilenet_v3_large, layer for layer"),
)
