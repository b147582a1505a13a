"""The registered segmenters: LR-ASPP and DeepLabV3 on every MobileNet family, as data.

``lraspp_<family>`` is V3 §6.4's model (output stride 16 by dilating the last block, RF2: the
last block halved, on V3 as TF DeepLab's ``mobilenet_v3_*_seg``; F = 128; the 1/8 skip);
``deeplabv3_<family>`` is V2 Table 7's Mobile DeepLabv3 (output stride 16, R-ASPP; ``aspp=True``
adds the 6/12/18 atrous convs, ``decoder=True`` the DeepLabV3+ decoder); on V2 both read the
320-channel map ("MNet V2*", no 1280 conv). ``convention="torchvision"`` builds torchvision's
``lraspp_mobilenet_v3_large`` and ``deeplabv3_mobilenet_v3_large`` exactly (their checkpoints
convert with ``segmentation.torchvision``), and the same reading on the other families.
``num_classes`` counts every class, background included (VOC: 21).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from mobilenet.models.registry import build_model, get_entry, model_spec, register_task_model
from mobilenet.specs.resolve import Plan, resolve
from mobilenet.tasks.segmentation.model import Segmenter
from mobilenet.tasks.segmentation.specs import (FULL_ASPP_RATES, TORCHVISION_DEEPLABV3, TORCHVISION_LRASPP, ASPPSpec,
                                                AuxSpec, DecoderSpec, HeadSpec, LRASPPSpec, Tap, aux_from_dict,
                                                head_from_dict, head_to_dict)

OPTIONS = ("num_classes", "width_mult", "resolution", "in_chans", "output_stride", "convention", "reduced_tail",
           "bn_momentum", "dropout", "aux_loss", "aspp", "decoder", "head", "backbone")
CONVENTIONS = ("paper", "torchvision")


@dataclass(frozen=True)
class SegmenterDef:
    """One registered segmenter: its backbone family and the head and backbone options of each convention."""

    name: str
    backbone: str
    heads: dict[str, HeadSpec]
    backbone_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    resolution: dict[str, int] = field(default_factory=lambda: {"paper": 513, "torchvision": 520})


FAMILIES = ("mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "mobilenet_v4_conv_small",
            "mobilenet_v4_conv_medium", "mobilenet_v4_conv_large", "mobilenet_v4_hybrid_medium",
            "mobilenet_v4_hybrid_large")


def _definitions() -> list[SegmenterDef]:
    definitions = []
    torchvision = {"output_stride": 16, "convention": "torchvision"}
    for family in FAMILIES:
        short = family.removeprefix("mobilenet_")
        v2_star = {"drop_last_conv": True} if family == "mobilenet_v2" else {}  # V2 §6.3: MNet V2*
        # RF2: TF DeepLab's mobilenet_v3_*_seg halves C4's own expansion too; V3 Table 7's V2 rows
        # (2-4, 9, 10) count tf-slim's detection form (C4's expansion kept).
        rf2 = "segmentation" if family.startswith("mobilenet_v3") else True
        definitions.append(SegmenterDef(
            f"lraspp_mobilenet_{short}", family, {"paper": LRASPPSpec(), "torchvision": TORCHVISION_LRASPP},
            {"paper": {"output_stride": 16, "reduced_tail": rf2, **v2_star}, "torchvision": torchvision}))
        definitions.append(SegmenterDef(
            f"deeplabv3_mobilenet_{short}", family, {"paper": ASPPSpec(), "torchvision": TORCHVISION_DEEPLABV3},
            {"paper": {"output_stride": 16, **v2_star}, "torchvision": torchvision}))
    return definitions


DEFINITIONS: dict[str, SegmenterDef] = {d.name: d for d in _definitions()}


def _layers(plan: Plan) -> list[tuple[str, Any]]:
    return [("stem", plan.stem), *((f"blocks.{i}", layer) for i, layer in enumerate(plan.blocks))]


def tap_name(plan: Plan, tap: Tap) -> str:
    """The backbone tap (``features.named_taps``) a head's ``Tap`` reads in the undilated ``plan``."""
    at_stride = [(name, layer) for name, layer in _layers(plan) if layer.reduction == tap.stride]
    if not at_stride:
        raise ValueError(f"{plan.spec.name} has no layer at output stride {tap.stride}")
    name, layer = at_stride[0 if tap.layer == "first" else -1]
    return f"{name}.depthwise" if tap.location == "depthwise" and layer.kind == "bottleneck" else name


def last_tap(plan: Plan) -> str:
    """The last map: the last conv's output, or the last block's for backbones without one (V2*)."""
    return "last_conv" if plan.last_conv is not None else f"blocks.{len(plan.blocks) - 1}"


def _taps(plan: Plan, head: HeadSpec, aux: AuxSpec | None) -> tuple[list[str], dict[str, int]]:
    wanted = {"high": last_tap(plan)}
    skip = head.skip if isinstance(head, LRASPPSpec) else head.decoder.skip if head.decoder else None
    if skip is not None:
        wanted["skip"] = tap_name(plan, skip)
    if aux is not None:
        wanted["aux"] = tap_name(plan, aux.tap)
    names = list(dict.fromkeys(wanted.values()))
    return names, {role: names.index(name) for role, name in wanted.items()}


def _backbone_options(definition: SegmenterDef, convention: str, given: Mapping[str, Any] | None,
                      explicit: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    options = dict(given or {})
    name = options.pop("name", definition.backbone)
    for key in ("task", "features_only", "out_indices", "feature_location", "feature_taps", "num_classes"):
        options.pop(key, None)  # a saved backbone config: these are the segmenter's to decide
    options = {**definition.backbone_options.get(convention, {}), **options,
               **{k: v for k, v in explicit.items() if v is not None}}
    options.setdefault("width_mult", get_entry(name).width_mult)
    return name, options


def _plan(name: str, options: dict[str, Any]) -> Plan:
    spec = model_spec(name, options.get("convention", "paper"), reduced=options.get("reduced_tail", False),
                      fixed=bool(options.get("fixed_stem", False)), shrink=bool(options.get("shrink_last_conv")),
                      divisor=options.get("channel_divisor"))
    plan = resolve(spec, options["width_mult"], 32, options.get("in_chans", 3))
    return replace(plan, last_conv=None) if options.get("drop_last_conv") else plan


def build_segmenter(definition: SegmenterDef, *, num_classes: int = 21, width_mult: float | None = None,
                    resolution: int | tuple[int, int] | list[int] | None = None, in_chans: int | None = None,
                    output_stride: int | None = None, convention: str = "paper",
                    reduced_tail: bool | str | None = None, bn_momentum: float | None = None,
                    dropout: float | None = None, aux_loss: bool | float | Mapping[str, Any] | None = False,
                    aspp: bool = False, decoder: bool = False,
                    head: Mapping[str, Any] | None = None, backbone: Mapping[str, Any] | None = None) -> Segmenter:
    """A registered segmenter (see the module docstring); ``head`` changes fields of the head spec
    (e.g. ``{"channels": 256}``), ``backbone`` the backbone's options; ``dropout`` replaces the heads'
    dropout rates (the ASPP projection's and the auxiliary head's)."""
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}")
    spec = head_from_dict(head or {}, definition.heads[convention])
    if aspp or decoder:
        if not isinstance(spec, ASPPSpec):
            raise ValueError(f"aspp and decoder are options of DeepLabV3 heads; {definition.name} has an LR-ASPP head")
        spec = replace(spec, rates=spec.rates or FULL_ASPP_RATES if aspp else spec.rates,
                       decoder=spec.decoder or (DecoderSpec() if decoder else None))
    aux = aux_from_dict(aux_loss)
    if dropout is not None:
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        spec = replace(spec, dropout=float(dropout)) if isinstance(spec, ASPPSpec) else spec
        aux = replace(aux, dropout=float(dropout)) if aux else None
    name, options = _backbone_options(definition, convention, backbone, {
        "width_mult": width_mult, "in_chans": in_chans, "output_stride": output_stride, "reduced_tail": reduced_tail,
        "bn_momentum": bn_momentum})
    taps, roles = _taps(_plan(name, options), spec, aux)
    body = build_model(name, features_only=True, feature_taps=taps, **options)
    stride = body.plan.output_stride
    rates = tuple(max(1, rate * 16 // stride) for rate in spec.rates) if isinstance(spec, ASPPSpec) else ()
    size = resolution if resolution is not None else definition.resolution[convention]
    size = int(size) if isinstance(size, int) else tuple(int(s) for s in size)
    for side in (size,) if isinstance(size, int) else size:
        body._check_size(side, "resolution")
    model = Segmenter(body, spec, num_classes, roles, rates, aux, size)
    model.model_name = definition.name
    model.creation_options = {
        "num_classes": num_classes, "width_mult": body.width_mult, "resolution": list(size) if isinstance(size, tuple)
        else size, "in_chans": body.in_chans, "output_stride": stride, "convention": convention,
        "head": head_to_dict(spec), "aux_loss": {"tap": vars(aux.tap), "dropout": aux.dropout} if aux else False,
    }
    return model


def _register() -> None:
    for definition in DEFINITIONS.values():
        head = "LR-ASPP (V3 §6.4)" if isinstance(definition.heads["paper"], LRASPPSpec) else \
            "Mobile DeepLabv3 (V2 §6.3)"
        register_task_model(definition.name, "segmentation",
                            lambda definition=definition, **options: build_segmenter(definition, **options),
                            definition.backbone, OPTIONS, f"{head} on {definition.backbone}")


_register()
