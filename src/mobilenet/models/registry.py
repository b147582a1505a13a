"""Model names: ``build_model(name, **overrides)`` and ``list_models(pattern)``.

A name encodes the architecture and its width (``mobilenet_v3_large_075`` is width 0.75);
everything else is an override. Classifier families register their specs here; task models
(detectors, segmenters in ``mobilenet.tasks``) register a builder under the same registry, so
one name space and one ``ModelConfig`` cover every model. Registering a name twice is an error.
``mobilenet.create_model`` (``mobilenet.factory``) adds weights on top of ``build_model``.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Callable, Literal, Mapping

from torch import nn

from mobilenet.models.config import ModelConfig
from mobilenet.models.mobilenet import MobileNet
from mobilenet.specs import (
    MOBILENET_V1,
    MOBILENET_V2,
    MOBILENET_V3_LARGE,
    MOBILENET_V3_SMALL,
    MOBILENET_V4_CONV_LARGE,
    MOBILENET_V4_CONV_MEDIUM,
    MOBILENET_V4_CONV_SMALL,
    MOBILENET_V4_HYBRID_LARGE,
    MOBILENET_V4_HYBRID_MEDIUM,
    MobileNetSpec,
    channel_divisor,
    minimalistic,
    fixed_stem,
    reduced_tail,
    shrunk_last_conv,
    torchvision_convention,
)

Convention = Literal["paper", "torchvision"]
CONVENTIONS: dict[str, Callable[[MobileNetSpec], MobileNetSpec]] = {
    "paper": lambda spec: spec,
    "torchvision": torchvision_convention,
}


@dataclass(frozen=True)
class ModelEntry:
    """A registered model.

    Classifier families: ``spec`` at width 1.0 and the ``width_mult`` the name stands for.
    Task models: ``build`` (keyword options -> model with ``.config``), the ``options`` it takes
    and the classification family of its default ``backbone``.
    """

    name: str
    spec: MobileNetSpec
    width_mult: float
    task: str = "classification"
    build: Callable[..., nn.Module] | None = None
    options: tuple[str, ...] = ()
    backbone: str | None = None
    description: str = ""


MODELS: dict[str, ModelEntry] = {}

OPTIONS = (
    "width_mult", "resolution", "num_classes", "dropout", "in_chans", "output_stride",
    "padding", "bn_eps", "bn_momentum", "convention", "reduced_tail", "fixed_stem", "shrink_last_conv",
    "features_only", "out_indices", "feature_location", "drop_last_conv", "feature_taps", "channel_divisor",
)
REDUCED_TAILS: tuple[object, ...] = (False, True, "segmentation")
"""``reduced_tail``: none, tf-slim's detection form (V3 §6.3), TF DeepLab's segmentation form (V3 §6.4)."""


def register(name: str, spec: MobileNetSpec, width_mult: float) -> None:
    """Add the classifier ``name`` to the registry; refuses a name that is already there."""
    if name in MODELS:
        raise ValueError(f"model name {name!r} is already registered")
    MODELS[name] = ModelEntry(name, spec, width_mult)


def register_task_model(name: str, task: str, build: Callable[..., nn.Module], backbone: str,
                        options: tuple[str, ...], description: str = "") -> None:
    """Add a task model (detector, segmenter): ``build(**options)`` returns it with its ``config``.

    ``backbone`` is the registered classifier it is built on by default (its spec and width are
    what ``list_models`` and the cost tables show).
    """
    if name in MODELS:
        raise ValueError(f"model name {name!r} is already registered")
    base = get_entry(backbone)
    MODELS[name] = ModelEntry(name, base.spec, base.width_mult, task, build, tuple(options), backbone, description)


def _register_family(base: str, spec: MobileNetSpec, widths: tuple[float, ...]) -> None:
    for width in widths:
        suffix = "" if width == 1.0 else f"_{round(width * 100):03d}"
        register(f"{base}{suffix}", spec, width)


_register_family("mobilenet_v1", MOBILENET_V1, (1.0, 0.75, 0.5, 0.25))
_register_family("mobilenet_v2", MOBILENET_V2, (1.4, 1.3, 1.0, 0.75, 0.5, 0.35))
_register_family("mobilenet_v3_large", MOBILENET_V3_LARGE, (1.25, 1.0, 0.75, 0.5, 0.35))
_register_family("mobilenet_v3_small", MOBILENET_V3_SMALL, (1.25, 1.0, 0.75, 0.5, 0.35))
_register_family("mobilenet_v3_large_minimal", minimalistic(MOBILENET_V3_LARGE), (1.0, 0.75))
_register_family("mobilenet_v3_small_minimal", minimalistic(MOBILENET_V3_SMALL), (1.0, 0.75))
_register_family("mobilenet_v4_conv_small", MOBILENET_V4_CONV_SMALL, (1.0, 0.5))
_register_family("mobilenet_v4_conv_medium", MOBILENET_V4_CONV_MEDIUM, (1.0,))
_register_family("mobilenet_v4_conv_large", MOBILENET_V4_CONV_LARGE, (1.0,))
_register_family("mobilenet_v4_hybrid_medium", MOBILENET_V4_HYBRID_MEDIUM, (1.0,))
_register_family("mobilenet_v4_hybrid_large", MOBILENET_V4_HYBRID_LARGE, (1.0,))


def list_models(pattern: str = "*", task: str | None = None) -> list[str]:
    """Registered names matching a shell-style ``pattern`` (e.g. ``"mobilenet_v3_*"``), sorted;
    ``task`` keeps one task's models (``"classification"``, ``"detection"``, ``"segmentation"``)."""
    return sorted(name for name, entry in MODELS.items()
                  if fnmatch.fnmatch(name, pattern) and (task is None or entry.task == task))


def get_entry(name: str) -> ModelEntry:
    """The registry entry for ``name``; a ``ValueError`` naming the valid choices otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        close = [n for n in MODELS if n.startswith(name.rsplit("_", 1)[0])] or list_models()
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(sorted(close))}") from None


def model_spec(name: str, convention: Convention = "paper", reduced: bool | str = False,
               fixed: bool = False, shrink: bool = False, divisor: int | None = None) -> MobileNetSpec:
    """The spec a registered name builds, after the convention, reduced-tail, stem, last-conv and divisor options."""
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}")
    if reduced not in REDUCED_TAILS:
        raise ValueError(f"reduced_tail must be one of {', '.join(map(repr, REDUCED_TAILS))}, got {reduced!r}")
    spec = CONVENTIONS[convention](get_entry(name).spec)
    spec = reduced_tail(spec, first_expansion=reduced == "segmentation") if reduced else spec
    spec = shrunk_last_conv(spec) if shrink else spec
    spec = channel_divisor(spec, divisor) if divisor is not None else spec
    return fixed_stem(spec) if fixed else spec


def build_model(name: str | ModelConfig | Mapping[str, Any], **overrides: Any) -> nn.Module:
    """Build a registered model with random weights. ``overrides``: the entry's options
    (``OPTIONS`` for classifiers). A ``ModelConfig`` (or its dict) rebuilds a model exactly.

    ``convention="torchvision"`` builds torchvision's reading of V3 (expansions and the head
    scaled with width); ``reduced_tail=True`` halves the layers between C4 and C5 (V3 §6.3);
    ``reduced_tail="segmentation"`` also halves C4's own expansion (TF DeepLab, V3 §6.4);
    ``fixed_stem=True`` keeps the stem at its width-1.0 channels (Keras V3, timm V3 below 0.75);
    ``shrink_last_conv=True`` scales V2's 1280 conv below width 1.0 too (TF Object Detection);
    ``channel_divisor=1`` rounds widened channels as TF DeepLab's V2 does;
    ``features_only=True`` gives a backbone without head (see ``MobileNet``).
    """
    if not isinstance(name, str):
        config = ModelConfig.from_dict(name)
        options = dict(config.options)
        if config.backbone is not None:
            options["backbone"] = config.backbone.to_dict()
        return build_model(config.name, **{**options, **overrides})
    entry = get_entry(name)
    if entry.build is not None:
        unknown = sorted(set(overrides) - set(entry.options))
        if unknown:
            raise ValueError(f"unknown option(s) {', '.join(unknown)} for {name}; valid: {', '.join(entry.options)}")
        return entry.build(**overrides)
    unknown = sorted(set(overrides) - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)} for {name}; valid: {', '.join(OPTIONS)}")
    options = dict(overrides)
    convention = options.pop("convention", "paper")
    reduced = options.pop("reduced_tail", False)
    stem_fixed = bool(options.pop("fixed_stem", False))
    shrink = bool(options.pop("shrink_last_conv", False))
    divisor = options.pop("channel_divisor", None)
    options.setdefault("width_mult", entry.width_mult)
    for key in ("out_indices", "feature_taps"):
        if options.get(key) is not None:
            options[key] = tuple(options[key])
    model = MobileNet(model_spec(name, convention, reduced, stem_fixed, shrink, divisor), **options)
    model.model_name = name
    model.creation_options = {
        "width_mult": model.width_mult,
        "resolution": model.resolution,
        "num_classes": model.num_classes,
        "in_chans": model.in_chans,
        "output_stride": model.plan.output_stride,
        "padding": model.padding,
        "bn_eps": model.bn_eps,
        "bn_momentum": model.bn_momentum,
        "dropout": model.dropout.p,
        "convention": convention,
        "reduced_tail": reduced,
        "fixed_stem": stem_fixed,
    }
    if shrink:  # only when set, so the configs of every other model stay as they were
        model.creation_options["shrink_last_conv"] = True
    if divisor is not None:
        model.creation_options["channel_divisor"] = divisor
    if model.features_only:
        model.creation_options.update(features_only=True, out_indices=list(model.out_indices),
                                      feature_location=model.feature_location,
                                      drop_last_conv=bool(options.get("drop_last_conv", False)))
        if options.get("feature_taps") is not None:
            model.creation_options["feature_taps"] = list(options["feature_taps"])
    return model
