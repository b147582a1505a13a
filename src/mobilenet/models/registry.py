"""Model names: ``create_model(name, **overrides)`` and ``list_models(pattern)``.

A name encodes the architecture and its width (``mobilenet_v3_large_075`` is width 0.75);
everything else is an override. Registering a name twice is an error.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Callable, Literal

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
    minimalistic,
    fixed_stem,
    reduced_tail,
    torchvision_convention,
)

Convention = Literal["paper", "torchvision"]
CONVENTIONS: dict[str, Callable[[MobileNetSpec], MobileNetSpec]] = {
    "paper": lambda spec: spec,
    "torchvision": torchvision_convention,
}


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its spec at width 1.0 and the width its name stands for."""

    name: str
    spec: MobileNetSpec
    width_mult: float


MODELS: dict[str, ModelEntry] = {}

OPTIONS = (
    "width_mult", "resolution", "num_classes", "dropout", "in_chans", "output_stride",
    "padding", "bn_eps", "bn_momentum", "convention", "reduced_tail", "fixed_stem",
)


def register(name: str, spec: MobileNetSpec, width_mult: float) -> None:
    """Add ``name`` to the registry; refuses a name that is already there."""
    if name in MODELS:
        raise ValueError(f"model name {name!r} is already registered")
    MODELS[name] = ModelEntry(name, spec, width_mult)


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


def list_models(pattern: str = "*") -> list[str]:
    """Registered names matching a shell-style ``pattern`` (e.g. ``"mobilenet_v3_*"``), sorted."""
    return sorted(name for name in MODELS if fnmatch.fnmatch(name, pattern))


def get_entry(name: str) -> ModelEntry:
    """The registry entry for ``name``; a ``ValueError`` naming the valid choices otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        close = [n for n in MODELS if n.startswith(name.rsplit("_", 1)[0])] or list_models()
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(sorted(close))}") from None


def model_spec(name: str, convention: Convention = "paper", reduced: bool = False,
               fixed: bool = False) -> MobileNetSpec:
    """The spec a registered name builds, after the convention, reduced-tail and stem options."""
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}")
    spec = CONVENTIONS[convention](get_entry(name).spec)
    spec = reduced_tail(spec) if reduced else spec
    return fixed_stem(spec) if fixed else spec


def create_model(name: str, weights: str | None = None, **overrides: Any) -> MobileNet:
    """Build a registered model. ``overrides``: any of ``OPTIONS``.

    ``convention="torchvision"`` builds torchvision's reading of V3 (expansions and the head
    scaled with width); ``reduced_tail=True`` halves the layers between C4 and C5 (V3 §6.3);
    ``fixed_stem=True`` keeps the stem at its width-1.0 channels (Keras V3, timm V3 below 0.75).
    ``weights`` names a weights record (whose options, such as TF padding, are applied under
    ``overrides``) or a local checkpoint file.
    """
    if weights is not None:
        from mobilenet.weights import RECORDS  # imported late: weights import the registry

        if str(weights) in RECORDS:
            overrides = {**RECORDS[str(weights)].create_options(), **overrides}
    unknown = sorted(set(overrides) - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)} for create_model; valid: {', '.join(OPTIONS)}")
    entry = get_entry(name)
    options = dict(overrides)
    convention = options.pop("convention", "paper")
    reduced = bool(options.pop("reduced_tail", False))
    stem_fixed = bool(options.pop("fixed_stem", False))
    options.setdefault("width_mult", entry.width_mult)
    model = MobileNet(model_spec(name, convention, reduced, stem_fixed), **options)
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
    if weights is not None:
        from mobilenet.weights import load_weights  # imported late: weights import the registry

        load_weights(model, weights)
    return model
