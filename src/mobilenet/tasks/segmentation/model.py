"""A segmenter: a ``features_only`` MobileNet, a head (LR-ASPP or DeepLabV3), an optional auxiliary
head, and the bilinear resize of the logits to the input size (style principle 12)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mobilenet.cost.profile import CostCounter, Shape
from mobilenet.data.preprocessing import Preprocessing
from mobilenet.models.config import ModelConfig
from mobilenet.models.mobilenet import MobileNet
from mobilenet.tasks.segmentation.aspp import AuxHead, DeepLabV3Head, upsample
from mobilenet.tasks.segmentation.lraspp import LRASPP
from mobilenet.tasks.segmentation.specs import ASPPSpec, AuxSpec, HeadSpec, LRASPPSpec

HEAD_OPTIONS = dict(bn_eps=1e-5, bn_momentum=0.1)
"""Both references' head BN (TF DeepLab: epsilon 1e-5; torchvision: PyTorch's defaults)."""


class Segmenter(nn.Module):
    """Per-pixel class logits ``(N, num_classes, H, W)`` at the input's size.

    ``roles`` says which of the backbone's maps (``backbone.feature_info()``) each head reads:
    ``high`` (the last map), ``skip`` (LR-ASPP's 1/8 map or the decoder's 1/4 map) and ``aux``. In
    training with an auxiliary head ``forward`` returns ``(logits, aux_logits)``, as torchvision's
    ``aux_loss`` models return both (there as a dict).
    """

    head_prefixes: tuple[str, ...] = ("head", "aux")
    output_names: tuple[str, ...] = ("logits",)

    def __init__(self, backbone: MobileNet, head: HeadSpec, num_classes: int, roles: dict[str, int],
                 rates: tuple[int, ...] = (), aux: AuxSpec | None = None,
                 resolution: int | tuple[int, int] = 513) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be an integer >= 1 (every class, background included), got "
                             f"{num_classes!r}")
        self.backbone = backbone
        self.roles = dict(roles)
        info = backbone.feature_info()
        channels = {role: info[index].channels for role, index in self.roles.items()}
        options = dict(padding=backbone.padding, **HEAD_OPTIONS)
        if isinstance(head, LRASPPSpec):
            self.head: nn.Module = LRASPP(channels["high"], channels["skip"], num_classes, head, **options)
        else:
            self.head = DeepLabV3Head(channels["high"], num_classes, head, rates, channels.get("skip", 0), **options)
        self.aux: nn.Module = AuxHead(channels["aux"], num_classes, aux.dropout, **options) if aux else nn.Identity()
        self.has_aux = aux is not None
        self.align_corners = head.align_corners
        self.num_classes = num_classes
        self.resolution = resolution
        self.min_input_size = backbone.min_input_size
        self.in_chans = backbone.in_chans
        self.width_mult = backbone.width_mult
        self.padding = backbone.padding
        self.model_name = "segmenter"
        self.creation_options: dict[str, Any] = {}
        self.paper = "V3 §6.4 (LR-ASPP)" if isinstance(head, LRASPPSpec) else "V2 §6.3 (Mobile DeepLabv3)"
        self._init_head()

    def _init_head(self) -> None:
        for name, module in self.named_modules():
            if not name.startswith(self.head_prefixes):
                continue
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    @property
    def config(self) -> ModelConfig:
        """What rebuilds this model: ``mobilenet.create_model(config)``."""
        return ModelConfig(self.model_name, "segmentation", self.creation_options, self.backbone.config)

    def reset_classifier(self, num_classes: int) -> None:
        """New class predictors (the head's classifiers and the auxiliary one); the rest is kept."""
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be an integer >= 1, got {num_classes!r}")
        self.head.reset_classes(num_classes)
        if self.has_aux:
            self.aux.reset_classes(num_classes)
        self.num_classes = num_classes
        self.creation_options["num_classes"] = num_classes

    def default_preprocessing(self) -> dict[str, Any]:
        """The whole image squashed to the input size (TF DeepLab and torchvision's VOC evaluation
        resize whole images), ImageNet mean and std."""
        size = self.resolution if isinstance(self.resolution, int) else max(self.resolution)
        return Preprocessing(size, crop_pct=1.0, resize_mode="squash").to_dict()

    def _check_size(self, size: int, what: str) -> None:
        self.backbone._check_size(size, what)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        maps = self.backbone(x)
        skip = maps[self.roles["skip"]] if "skip" in self.roles else None
        logits = upsample(self.head(maps[self.roles["high"]], skip), x.shape[-2:], self.align_corners)
        if self.training and self.has_aux:
            return logits, upsample(self.aux(maps[self.roles["aux"]]), x.shape[-2:], self.align_corners)
        return logits

    def export_form(self, postprocess: bool = False) -> nn.Module:
        """The exported graph: the logits, or (``postprocess``) the class of every pixel (arg-max
        inside the graph, as the Coral and LiteRT segmenters give)."""
        return ArgMax(self).train(self.training) if postprocess else self  # the wrapper in the model's mode

    def head_costs(self, counter: CostCounter, shapes: list[Shape], input_shape: Shape) -> None:
        """The heads' rows for ``mobilenet.profile`` (the auxiliary head, used only in training, is
        not counted, as the papers count inference)."""
        skip = shapes[self.roles["skip"]] if "skip" in self.roles else None
        self.head.costs(counter, shapes[self.roles["high"]], skip, "head.")


class ArgMax(nn.Module):
    """A segmenter whose output is the class index of every pixel, ``(N, H, W)`` int64."""

    output_names: tuple[str, ...] = ("labels",)

    def __init__(self, model: Segmenter) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).argmax(1)


__all__ = ["ASPPSpec", "ArgMax", "LRASPPSpec", "Segmenter"]
