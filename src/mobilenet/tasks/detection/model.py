"""SSD and SSDLite on any MobileNet: a ``features_only`` backbone, extra layers, predictors.

``forward`` in training mode returns ``(box_codes (B, N, 4), class_logits (B, N, C + 1),
anchors (N, 4))``; in eval mode the detections of ``postprocess.detect`` (``output_names``).
Class 0 of the logits is background; ``num_classes`` counts the object classes only.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

import torch
from torch import nn

from mobilenet.data.preprocessing import SIGNED_UNIT, Preprocessing
from mobilenet.models.config import ModelConfig
from mobilenet.models.mobilenet import MobileNet
from mobilenet.tasks.detection.anchors import anchor_boxes
from mobilenet.tasks.detection.heads import ExtraLayer, Predictor, flatten_predictions, head_depth, init_head
from mobilenet.tasks.detection.postprocess import OUTPUT_NAMES, detect
from mobilenet.tasks.detection.specs import NMS_KINDS, SCORE_FNS, DetectorSpec, PostprocessSpec

HEAD_OPTIONS = ("score_fn", "nms", "score_threshold", "iou_threshold", "max_detections", "candidates")
"""Options that change the head's scores or post-processing, not its weights."""
BUILD_OPTIONS = ("num_classes", "width_mult", "resolution", "backbone", "bn_momentum", "in_chans", *HEAD_OPTIONS)


class SSD(nn.Module):
    """An SSD or SSDLite detector (see ``mobilenet.tasks.detection.specs``)."""

    output_names: tuple[str, ...] = OUTPUT_NAMES
    head_prefixes: tuple[str, ...] = ("extras", "box_head", "class_head")

    def __init__(self, spec: DetectorSpec, backbone: MobileNet, num_classes: int, width_mult: float,
                 postprocess: PostprocessSpec, score_fn: str) -> None:
        super().__init__()
        _check_classes(num_classes)
        if score_fn not in SCORE_FNS:
            raise ValueError(f"score_fn must be one of {', '.join(SCORE_FNS)}, got {score_fn!r}")
        _check_postprocess(postprocess)
        info = backbone.feature_info()
        if [i.reduction for i in info] != [16, 32]:
            raise ValueError(f"an SSD head needs two backbone maps at output strides 16 and 32, got "
                             f"{[i.reduction for i in info]} (out_indices=(3, 4), output_stride=32)")
        self.spec, self.backbone, self.width_mult = spec, backbone, float(width_mult)
        self.num_classes, self.score_fn, self.postprocess = num_classes, score_fn, postprocess
        options = dict(padding=backbone.padding, bn_eps=backbone.bn_eps, bn_momentum=backbone.bn_momentum)
        channels = [i.channels for i in info]
        extras = []
        for depth in spec.extra_channels:
            out = head_depth(depth, width_mult, spec.min_depth)
            mid = head_depth(depth // 2, width_mult, spec.min_depth)
            extras.append(ExtraLayer(channels[-1], mid, out, spec.separable, **options))
            channels.append(out)
        self.extras = nn.ModuleList(extras)
        self.channels = tuple(channels)
        self.boxes_per_location = spec.anchors.boxes_per_location(len(channels))
        self.box_head = nn.ModuleList(Predictor(c, a * 4, spec.predictor_kernel, spec.separable, **options)
                                      for c, a in zip(channels, self.boxes_per_location))
        self.class_head = nn.ModuleList(self._class_predictor(c, a, options)
                                        for c, a in zip(channels, self.boxes_per_location))
        init_head(self.extras)
        init_head(self.box_head)
        for predictor in self.class_head:
            self._init_class(predictor)
        self.preprocessing: Any = None
        self.class_names: list[str] = []

    # --- construction helpers ----------------------------------------------------------------
    def _class_predictor(self, channels: int, anchors: int, options: Mapping[str, Any]) -> Predictor:
        return Predictor(channels, anchors * (self.num_classes + 1), self.spec.predictor_kernel, self.spec.separable,
                         **options)

    def _init_class(self, predictor: nn.Module) -> None:
        init_head(predictor)
        if self.score_fn == "sigmoid":  # RetinaNet §4.1: start objects at probability 0.01
            bias = predictor.conv.bias.data.view(-1, self.num_classes + 1)
            bias[:, 1:] = -4.595

    def reset_classifier(self, num_classes: int) -> None:
        """New class predictors (their last conv) for ``num_classes`` object classes; the rest is kept.

        After it, only ``class_head`` counts as new (``head_prefixes``): a detector fine-tuned on other
        classes keeps its extra layers and box predictors, and their BN statistics with ``freeze_bn``."""
        _check_classes(num_classes)
        self.num_classes = num_classes
        self.head_prefixes = ("class_head",)
        for predictor, channels, anchors in zip(self.class_head, self.channels, self.boxes_per_location):
            old = predictor.conv
            predictor.conv = nn.Conv2d(old.in_channels, anchors * (num_classes + 1), old.kernel_size,
                                       padding=old.padding).to(old.weight.device)
            self._init_class(predictor)
        self.class_names = []

    # --- what the package asks of a task model -----------------------------------------------
    @property
    def resolution(self) -> int:
        return self.backbone.resolution

    @property
    def min_input_size(self) -> int:
        return self.backbone.min_input_size

    @property
    def in_chans(self) -> int:
        return self.backbone.in_chans

    def _check_size(self, size: int, what: str) -> None:
        self.backbone._check_size(size, what)

    @property
    def config(self) -> ModelConfig:
        options = {"num_classes": self.num_classes, "width_mult": self.width_mult, "resolution": self.resolution,
                   "score_fn": self.score_fn, "nms": self.postprocess.nms,
                   "score_threshold": self.postprocess.score_threshold,
                   "iou_threshold": self.postprocess.iou_threshold,
                   "max_detections": self.postprocess.max_detections, "candidates": self.postprocess.candidates}
        return ModelConfig(self.spec.name, "detection", options, self.backbone.config)

    def default_preprocessing(self) -> dict[str, Any]:
        """The whole image squashed to the input size, pixels to [-1, 1] (TF Object Detection, torchvision)."""
        return Preprocessing(self.resolution, crop_pct=1.0, resize_mode="squash", mean=SIGNED_UNIT,
                             std=SIGNED_UNIT).to_dict()

    def head_costs(self, counter: Any, shapes: list[tuple[int, int, int]], input_shape: tuple[int, int, int]) -> None:
        """Rows of the extra layers and predictors (``mobilenet.profile``), from the backbone maps' shapes."""
        shapes = list(shapes)
        for i, extra in enumerate(self.extras):
            shape = counter.conv(f"extras.{i}.reduce.conv", shapes[-1], extra.reduce.conv.out_channels, 1)
            if isinstance(extra.project, nn.Identity):
                shape = counter.conv(f"extras.{i}.spatial.conv", shape, extra.spatial.conv.out_channels, 3, 2)
            else:
                shape = counter.conv(f"extras.{i}.spatial.conv", shape, shape[0], 3, 2, groups=shape[0])
                shape = counter.conv(f"extras.{i}.project.conv", shape, extra.project.conv.out_channels, 1)
            shapes.append(shape)
        for head in ("box_head", "class_head"):
            for i, (predictor, shape) in enumerate(zip(getattr(self, head), shapes)):
                if not isinstance(predictor.depthwise, nn.Identity):
                    k = predictor.depthwise.conv.kernel_size[0]
                    shape = counter.conv(f"{head}.{i}.depthwise.conv", shape, shape[0], k, groups=shape[0])
                counter.conv(f"{head}.{i}.conv", shape, predictor.conv.out_channels, predictor.conv.kernel_size[0],
                             bn=False, bias=True)

    # --- forward -----------------------------------------------------------------------------
    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The six maps the predictors read: C4, C5 and the extra layers' outputs."""
        maps = list(self.backbone(x))
        for extra in self.extras:
            maps.append(extra(maps[-1]))
        return maps

    def _predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple[tuple[int, int], ...]]:
        maps = self.feature_maps(x)
        codes = flatten_predictions([p(m) for p, m in zip(self.box_head, maps)], 4)
        logits = flatten_predictions([p(m) for p, m in zip(self.class_head, maps)], self.num_classes + 1)
        return codes, logits, tuple((int(m.shape[-2]), int(m.shape[-1])) for m in maps)

    def forward_raw(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(box_codes (B, N, 4), class_logits (B, N, C + 1))`` before decoding."""
        codes, logits, _ = self._predict(x)
        return codes, logits

    def anchors(self, grid: tuple[tuple[int, int], ...], image_size: tuple[int, int],
                device: torch.device | None = None) -> torch.Tensor:
        """The ``(N, 4)`` normalised cxcywh anchors of maps of sizes ``grid`` on an ``image_size`` input."""
        return anchor_boxes(self.spec.anchors, grid, image_size).to(device)

    def head_outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(box_codes, class_logits, anchors)`` in any mode (training's outputs; evaluation's loss)."""
        codes, logits, grid = self._predict(x)
        return codes, logits, self.anchors(grid, (int(x.shape[-2]), int(x.shape[-1])), x.device)

    def detect(self, codes: torch.Tensor, logits: torch.Tensor,
               anchors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The detections (``output_names``) of head outputs."""
        return detect(codes, logits, anchors, self.spec.box_weights, self.score_fn, self.postprocess)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        codes, logits, anchors = self.head_outputs(x)
        return (codes, logits, anchors) if self.training else self.detect(codes, logits, anchors)

    def export_form(self, postprocess: bool = True) -> nn.Module:
        """What ``mobilenet export`` writes: the detections (NMS inside), or the raw head outputs."""
        return self if postprocess else RawOutputs(self)

    def append_postprocess(self, network: Any, out_path: Any, resolution: int, opset: int,
                           exporter: str = "dynamo") -> None:
        """An exported network (``export_form(postprocess=False)``, e.g. INT8) with this detector's
        float post-processing after it, written to ``out_path`` (``export.append_postprocess``)."""
        from mobilenet.tasks.detection.export import append_postprocess

        append_postprocess(self, network, out_path, resolution, opset, exporter)


class RawOutputs(nn.Module):
    """A detector's network before post-processing: box codes and class logits (decode them with
    ``mobilenet.tasks.detection.anchors`` and ``box_coder`` at the export resolution)."""

    output_names: tuple[str, ...] = ("box_codes", "class_logits")

    def __init__(self, detector: SSD) -> None:
        super().__init__()
        self.detector = detector

    @property
    def config(self) -> ModelConfig:
        return self.detector.config

    @property
    def in_chans(self) -> int:
        return self.detector.in_chans

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.detector.forward_raw(x)


def _check_classes(num_classes: Any) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be an integer >= 1 (object classes, without background), "
                         f"got {num_classes!r}")


def _check_postprocess(spec: PostprocessSpec) -> None:
    if spec.nms not in NMS_KINDS:
        raise ValueError(f"nms must be one of {', '.join(NMS_KINDS)}, got {spec.nms!r}")
    if not 0.0 <= spec.score_threshold < 1.0:
        raise ValueError(f"score_threshold must be in [0, 1), got {spec.score_threshold!r}")
    if not 0.0 < spec.iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {spec.iou_threshold!r}")
    if isinstance(spec.max_detections, bool) or not isinstance(spec.max_detections, int) or spec.max_detections < 1:
        raise ValueError(f"max_detections must be an integer >= 1, got {spec.max_detections!r}")
    if isinstance(spec.candidates, bool) or not isinstance(spec.candidates, int) or spec.candidates < 0:
        raise ValueError(f"candidates must be an integer >= 0 (0: every anchor), got {spec.candidates!r}")


def build_detector(spec: DetectorSpec, **options: Any) -> SSD:
    """The registry's builder: ``spec`` with the options of ``BUILD_OPTIONS``."""
    from mobilenet.models.registry import build_model, get_entry

    unknown = sorted(set(options) - set(BUILD_OPTIONS))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)} for {spec.name}; valid: {', '.join(BUILD_OPTIONS)}")
    width_mult = float(options.get("width_mult") or get_entry(spec.backbone).width_mult)
    resolution = options.get("resolution") or spec.resolution
    given = options.get("backbone") or {}
    if not isinstance(given, Mapping):
        raise ValueError(f"backbone must be a dict of backbone options or a backbone config, got {given!r}")
    if "name" in given:   # a full backbone config (a detector's own config, rebuilt)
        backbone = build_model(ModelConfig.from_dict(given))
    else:
        settings: dict[str, Any] = {"width_mult": width_mult, "resolution": resolution, "features_only": True,
                                    "out_indices": (3, 4), "feature_location": spec.feature_location,
                                    **spec.backbone_options}
        for key, value in (("bn_eps", spec.bn_eps), ("bn_momentum", spec.bn_momentum),
                           ("bn_momentum", options.get("bn_momentum")), ("in_chans", options.get("in_chans"))):
            if value is not None:
                settings[key] = value
        backbone = build_model(spec.backbone, **{**settings, **given})
    if not isinstance(backbone, MobileNet) or not backbone.features_only:
        raise ValueError(f"the backbone of {spec.name} must be a MobileNet built with features_only=True")
    post = spec.postprocess
    post = replace(post, **{k: options[k] for k in ("nms", "score_threshold", "iou_threshold", "max_detections",
                                                    "candidates") if options.get(k) is not None})
    num_classes = spec.num_classes if options.get("num_classes") is None else options["num_classes"]
    return SSD(spec, backbone, num_classes, width_mult, post,
               options.get("score_fn") or spec.score_fn)
