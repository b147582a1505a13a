"""One network class for the whole family: a resolved spec turned into modules."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from mobilenet.blocks import DepthwiseSeparable, FusedBottleneck, InvertedResidual, MobileAttention, UniversalBottleneck
from mobilenet.layers.activations import make_activation
from mobilenet.layers.conv import PADDING_MODES, ConvNormAct, PaddingMode
from mobilenet.models.config import ModelConfig
from mobilenet.models import features as taps_module
from mobilenet.models.features import FEATURE_LOCATIONS, FeatureInfo, FeatureLocation, tap_position
from mobilenet.specs.resolve import LayerPlan, Plan, resolve
from mobilenet.specs.rows import MobileNetSpec


def build_layer(layer: LayerPlan, **conv_options: Any) -> nn.Module:
    """The module for one planned layer."""
    if layer.kind == "conv":
        return ConvNormAct(layer.in_channels, layer.out_channels, layer.kernel, layer.stride,
                           dilation=layer.dilation, act=layer.act, **conv_options)
    if layer.kind == "separable":
        return DepthwiseSeparable(layer.in_channels, layer.out_channels, layer.kernel, layer.stride,
                                  layer.dilation, layer.act, **conv_options)
    if layer.kind == "universal":
        return UniversalBottleneck(layer.in_channels, layer.expanded_channels, layer.out_channels,
                                   layer.start_kernel, layer.kernel, layer.stride, layer.dilation, layer.act,
                                   layer.layer_scale, **conv_options)
    if layer.kind == "attention":
        return MobileAttention(layer.in_channels, layer.out_channels, layer.heads, layer.key_dim, layer.kv_stride,
                               layer.kernel, layer.dilation, layer.layer_scale, **conv_options)
    if layer.kind == "fused":
        return FusedBottleneck(layer.in_channels, layer.expanded_channels, layer.out_channels, layer.kernel,
                               layer.stride, layer.dilation, layer.act, **conv_options)
    return InvertedResidual(layer.in_channels, layer.expanded_channels, layer.out_channels,
                            layer.kernel, layer.stride, layer.dilation, layer.se_channels, layer.act,
                            **conv_options)


class MobileNet(nn.Module):
    """A MobileNet (V1, V2, V3, V4) built from a spec.

    Args:
        spec: the architecture at width 1.0 (``mobilenet.specs``).
        width_mult: the paper's alpha; any value > 0.
        resolution: nominal input size (the paper's rho x 224); any input of at least
            ``min_input_size`` pixels works, this one is used for the cost and the default config.
        num_classes: 0 gives a model without classifier (``forward`` returns pooled features).
        dropout: before the classifier; the spec's default when None.
        in_chans: input channels.
        output_stride: 8, 16 or 32; below 32 the last strides become dilation.
        padding: "symmetric" (PyTorch) or "tf_same" (TensorFlow, for TF-trained weights).
        features_only: a backbone for task heads (timm's interface): no head conv, head norm or
            classifier, and no layer after the last tapped one, so every parameter is used;
            ``forward`` returns the maps of ``feature_info()``.
        out_indices: which taps (indices into ``feature_info(feature_location)`` of the full
            model: 0..4 for output strides 2..32; negative counts from the end); None: all.
        feature_location: "block" (layer outputs) or "expansion" (SSDLite/LR-ASPP taps, V3 §6.3).
        drop_last_conv: end the trunk at the last block, without the 1x1 last conv (V2 §6.3:
            the DeepLab heads of "MNet V2*" read the 320-channel map, not the 1280 one).
        feature_taps: taps by name instead of ``out_indices`` (see ``features.named_taps``):
            ``blocks.3``, ``blocks.5.depthwise``, ``last_conv`` (torchvision's and TF DeepLab's taps).
    """

    def __init__(
        self,
        spec: MobileNetSpec,
        width_mult: float = 1.0,
        resolution: int | None = None,
        num_classes: int = 1000,
        dropout: float | None = None,
        in_chans: int = 3,
        output_stride: int = 32,
        padding: PaddingMode = "symmetric",
        bn_eps: float | None = None,
        bn_momentum: float | None = None,
        features_only: bool = False,
        out_indices: tuple[int, ...] | list[int] | None = None,
        feature_location: FeatureLocation = "block",
        drop_last_conv: bool = False,
        feature_taps: tuple[str, ...] | list[str] | None = None,
    ) -> None:
        super().__init__()
        if padding not in PADDING_MODES:
            raise ValueError(f"padding must be one of {PADDING_MODES}, got {padding!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(f"num_classes must be an integer >= 0, got {num_classes!r}")
        dropout = spec.dropout if dropout is None else dropout
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        if feature_location not in FEATURE_LOCATIONS:
            raise ValueError(f"feature_location must be one of {', '.join(FEATURE_LOCATIONS)}, got {feature_location!r}")
        if (out_indices is not None or drop_last_conv or feature_taps is not None) and not features_only:
            raise ValueError("out_indices, feature_taps and drop_last_conv apply to backbones: pass features_only=True")
        if feature_taps is not None and out_indices is not None:
            raise ValueError("pass either out_indices or feature_taps, not both")
        self.spec = spec
        self.plan: Plan = resolve(spec, width_mult, output_stride, in_chans)
        self._nominal_plan: Plan = resolve(spec, width_mult, 32, in_chans)
        if drop_last_conv:
            self.plan, self._nominal_plan = replace(self.plan, last_conv=None), replace(self._nominal_plan, last_conv=None)
        self.features_only = bool(features_only)
        self.feature_location: FeatureLocation = feature_location
        all_taps = taps_module.feature_taps(self.plan, self._nominal_plan, feature_location)
        if feature_taps is not None:
            if not feature_taps:
                raise ValueError("feature_taps must name at least one tap (e.g. 'blocks.3', 'last_conv')")
            self.out_indices, self._taps = (), taps_module.named_taps(self.plan, list(feature_taps))
        else:
            self.out_indices = self._check_out_indices(out_indices, len(all_taps)) if features_only else ()
            self._taps = [all_taps[i] for i in self.out_indices]
        self.min_input_size = math.prod(layer.stride for layer in self._all_layers(self._nominal_plan))
        resolution = spec.resolution if resolution is None else resolution
        self._check_size(resolution, "resolution")
        self.resolution = int(resolution)
        self.width_mult = float(width_mult)
        self.in_chans = in_chans
        self.padding = padding
        self.bn_eps = spec.bn_eps if bn_eps is None else bn_eps
        self.bn_momentum = spec.bn_momentum if bn_momentum is None else bn_momentum
        options = dict(padding=padding, bn_eps=self.bn_eps, bn_momentum=self.bn_momentum)

        if features_only:  # a backbone: the trunk up to its last tap, no head (no unused parameters)
            kept_blocks, keep_last_conv = self._trunk_extent()
            self.plan = replace(self.plan, blocks=self.plan.blocks[:kept_blocks], head_channels=None,
                                last_conv=self.plan.last_conv if keep_last_conv else None)
            num_classes = 0
        deepest = max(self._taps, key=tap_position) if self._taps else None
        self.partial_last = deepest.location if deepest is not None and deepest.location != "block" else None
        """A backbone whose deepest tap is inside its last block builds that block up to the tap."""
        plan = self.plan
        self.stem = build_layer(replace(plan.stem, in_channels=in_chans), **options)
        self.blocks = nn.Sequential(*(build_layer(layer, **options) for layer in plan.blocks))
        self.last_conv = build_layer(plan.last_conv, **options) if plan.last_conv else nn.Identity()
        if self.partial_last:
            _keep_up_to(self.blocks[-1], self.partial_last)
        self.pool = nn.AdaptiveAvgPool2d(1)
        # V3 §5.1: the last 1x1 conv works after pooling, without BN (a Linear on pooled features).
        self.head_conv: nn.Module = (
            nn.Linear(plan.feature_channels, plan.head_channels, bias=not spec.head_norm)
            if plan.head_channels else nn.Identity()
        )
        # V4: the head conv is followed by BN (timm's ``norm_head``); V3's is not.
        self.head_norm: nn.Module = (
            nn.BatchNorm1d(plan.head_channels, eps=self.bn_eps, momentum=self.bn_momentum)
            if plan.head_channels and spec.head_norm else nn.Identity()
        )
        self.head_act = make_activation(spec.head_act) if plan.head_channels else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.num_features = plan.classifier_in
        self.num_classes = num_classes
        self.classifier: nn.Module = (
            nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        )
        self._init_weights()
        # Set by ``create_model`` so that ``config`` can rebuild the model from its registry name.
        self.model_name: str = spec.name
        self.creation_options: dict[str, Any] = {}

    head_prefixes: tuple[str, ...] = ("classifier",)
    """Modules that are new when fine-tuning on other classes (``reset_classifier`` replaces them)."""

    @staticmethod
    def _check_out_indices(out_indices: Any, count: int) -> tuple[int, ...]:
        if out_indices is None:
            return tuple(range(count))
        try:
            indices = [int(i) for i in out_indices]
        except (TypeError, ValueError):
            raise ValueError(f"out_indices must be a sequence of integers, got {out_indices!r}") from None
        if not indices or any(not -count <= i < count for i in indices):
            raise ValueError(f"out_indices {tuple(out_indices)} out of range: this backbone has {count} taps "
                             f"(indices 0..{count - 1}, output strides 2..32)")
        resolved = sorted({i % count for i in indices})
        return tuple(resolved)

    def _trunk_extent(self) -> tuple[int, bool]:
        """(blocks to build, whether to build the last conv) of a backbone: up to its deepest tap."""
        last = max(self._taps, key=tap_position).module
        if last == "last_conv":
            return len(self.plan.blocks), True
        return (0 if last == "stem" else int(last.split(".")[1]) + 1), False

    def reset_classifier(self, num_classes: int) -> None:
        """A new, freshly initialised classifier for ``num_classes`` outputs (0: none), as timm's."""
        if self.features_only:
            raise ValueError("a features_only backbone has no classifier")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(f"num_classes must be an integer >= 0, got {num_classes!r}")
        self.classifier = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        if num_classes > 0:
            nn.init.normal_(self.classifier.weight, 0, 0.01)
            nn.init.zeros_(self.classifier.bias)
        self.num_classes = num_classes
        if self.creation_options:
            self.creation_options["num_classes"] = num_classes

    @staticmethod
    def _all_layers(plan: Plan) -> list[LayerPlan]:
        return [plan.stem, *plan.blocks, *([plan.last_conv] if plan.last_conv else [])]

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def _check_size(self, size: int, what: str) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < self.min_input_size:
            raise ValueError(
                f"{what} {size!r} is too small for {self.spec.name}: its {int(math.log2(self.min_input_size))} "
                f"stride-2 layers need inputs of at least {self.min_input_size}x{self.min_input_size} pixels"
            )

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_chans:
            raise ValueError(
                f"{self.spec.name} expects input of shape (batch, {self.in_chans}, height, width), "
                f"got {tuple(x.shape)}; set in_chans={x.shape[1] if x.dim() == 4 else '?'} when "
                "creating the model if your images have that many channels"
            )
        if min(x.shape[-2:]) < self.min_input_size:
            self._check_size(int(min(x.shape[-2:])), "input size")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The map before global pooling (output stride ``plan.output_stride``)."""
        self._check_input(x)
        return self.last_conv(self.blocks(self.stem(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global pool, the V3 head conv, dropout and the classifier."""
        x = torch.flatten(self.pool(x), 1)
        x = self.dropout(self.head_act(self.head_norm(self.head_conv(x))))
        return x if pre_logits else self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        if self.features_only:
            return self.forward_multiscale(x, self.feature_location)
        return self.forward_head(self.forward_features(x))

    def feature_info(self, location: FeatureLocation | None = None) -> list[FeatureInfo]:
        """The maps ``forward_multiscale`` returns: module, location, output stride, channels.

        A ``features_only`` backbone lists its own taps (``out_indices`` at ``feature_location``)."""
        if self.features_only:
            if location not in (None, self.feature_location):
                raise ValueError(f"this backbone was built for feature_location={self.feature_location!r}")
            return list(self._taps)
        return taps_module.feature_taps(self.plan, self._nominal_plan, location or "block")

    def forward_multiscale(self, x: torch.Tensor, location: FeatureLocation | None = None) -> list[torch.Tensor]:
        """Feature maps at output strides 2 to 32 (see ``feature_info``), for detection/segmentation."""
        self._check_input(x)
        wanted = {(info.module, info.location): i for i, info in enumerate(self.feature_info(location))}
        outputs: list[torch.Tensor | None] = [None] * len(wanted)
        x = self.stem(x)
        if ("stem", "block") in wanted:
            outputs[wanted["stem", "block"]] = x
        for i, block in enumerate(self.blocks):
            name = f"blocks.{i}"
            if (name, "depthwise") in wanted or ((name, "expansion") in wanted and isinstance(block, InvertedResidual)):
                x, inner = block.forward_taps(x)
                for location in ("expansion", "depthwise"):
                    if (name, location) in wanted:
                        outputs[wanted[name, location]] = inner[location]
            elif (name, "expansion") in wanted and isinstance(block, UniversalBottleneck):
                x, expanded = block.forward_with_expansion(x)
                outputs[wanted[name, "expansion"]] = expanded
            else:
                x = block(x)
            if (name, "block") in wanted:
                outputs[wanted[name, "block"]] = x
        if ("last_conv", "block") in wanted:
            outputs[wanted["last_conv", "block"]] = self.last_conv(x)
        return [out for out in outputs if out is not None]

    @property
    def config(self) -> ModelConfig:
        """What rebuilds this model: ``mobilenet.create_model(config)``."""
        return ModelConfig(self.model_name, "classification", self.creation_options)


def _keep_up_to(block: nn.Module, location: str) -> None:
    """A backbone whose deepest tap is a block's expansion (or depthwise) conv needs nothing after it:
    the rest becomes ``nn.Identity`` (kept names, so the state-dict keys do not change)."""
    if isinstance(block, InvertedResidual):
        if location == "expansion":
            block.depthwise = nn.Identity()
        block.se, block.project = nn.Identity(), nn.Identity()
    elif isinstance(block, UniversalBottleneck):
        block.middle, block.project, block.scale = nn.Identity(), nn.Identity(), nn.Identity()
    block.use_residual = False
