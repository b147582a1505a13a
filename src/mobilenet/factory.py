"""``mobilenet.create_model``: a registered model with weights, the way timm and torchvision users expect.

- ``create_model(name)``: random weights (``mobilenet.models.build_model``).
- ``create_model(name, weights=RECORD_OR_FILE)``: built with the options the weights need (TF
  padding and BN epsilon for TensorFlow-trained files, torchvision's channel convention, a fixed
  stem), refusing options that contradict them; ``num_classes=N`` puts a new head on them.
- ``create_model(weights=FILE)``: our files, checkpoints and records know their model.
- ``pretrained=True``: the model's default record.
- A task model (detector, segmenter) with classification weights loads them into its backbone
  only (the new head stays random): the usual start of a detection or segmentation fine-tune.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from torch import nn

import mobilenet.tasks  # noqa: F401  (registers the task models)
from mobilenet.data.preprocessing import Preprocessing, default_preprocessing
from mobilenet.models.config import ModelConfig
from mobilenet.models.registry import build_model, get_entry
from mobilenet.weights.loading import WeightsInfo, inspect_weights, load_backbone, load_weights
from mobilenet.weights.records import list_records

# torchvision's newest recipe first, then the other publishers (timm trains longer than Keras).
_SOURCE_ORDER = ("torchvision", "timm", "keras")


def default_weights(name: str) -> str:
    """The record ``pretrained=True`` loads for ``name``; a ValueError when there is none."""
    entry = get_entry(name)
    records = [r for r in list_records() if r.model == name and not r.unsupported]
    if not records:
        raise ValueError(f"no pretrained weights are known for {name!r} ({entry.task}); see `mobilenet weights "
                         "list`, or pass weights= a file")
    records.sort(key=lambda r: (_SOURCE_ORDER.index(r.source), -(r.accuracy or {}).get("top1", 0.0)))
    return records[0].name


def _architecture(name: str, options: Mapping[str, Any]) -> tuple[str, float]:
    entry = get_entry(name)
    return entry.spec.name, float(options.get("width_mult", entry.width_mult))


def _check_same(name: str, options: Mapping[str, Any], info: WeightsInfo) -> None:
    if info.model_name is None or name == info.model_name:
        return
    given = _architecture(name, options)
    wanted = _architecture(info.model_name, info.config.options if info.config else {})
    if given != wanted:
        raise ValueError(f"weights {info.reference!r} hold a {info.model_name} (width {wanted[1]:g}), not a {name} "
                         f"(width {given[1]:g}); use create_model({info.model_name!r}, weights=...)")


def _check_no_conflict(options: Mapping[str, Any], required: Mapping[str, Any], info: WeightsInfo) -> None:
    conflicts = [f"{k}={options[k]!r} (they need {v!r})" for k, v in required.items() if k in options
                 and options[k] != v]
    if conflicts:
        raise ValueError(f"weights {info.reference!r} cannot be used with {', '.join(conflicts)}; drop these "
                         "options (the weights set them)")


def _classifier(name: str, info: WeightsInfo, options: dict[str, Any], cache_dir: str | None) -> nn.Module:
    required = info.required_for(name)
    _check_no_conflict(options, required, info)
    new_classes = options.pop("num_classes", None)
    base = dict(info.config.options) if info.config else dict(info.record.create_options()) if info.record else {}
    if info.config is not None and info.config.backbone is not None and "backbone" not in options:
        base["backbone"] = info.config.backbone.to_dict()  # a task model's backbone as the file built it
    base.pop("resolution", None) if "resolution" in options else None
    merged = {**base, **required, **options}
    if info.num_classes is not None:
        merged["num_classes"] = info.num_classes
    _check_same(name, merged, info)
    if merged.get("features_only"):
        model = build_model(name, **merged)
        load_backbone(model, info, cache_dir)
        return model
    model = build_model(name, **merged)
    load_weights(model, info, cache_dir)
    if new_classes is not None and new_classes != model.num_classes:
        model.reset_classifier(new_classes)
        model.class_names = []
    return model


def _task_model(name: str, info: WeightsInfo, options: dict[str, Any], cache_dir: str | None) -> nn.Module:
    entry = get_entry(name)
    if info.task == entry.task:  # a checkpoint of the same kind of model: all of it
        return _classifier(name, info, options, cache_dir)
    if info.task != "classification":
        raise ValueError(f"weights {info.reference!r} hold a {info.task} model; {name} is a {entry.task} model")
    backbone_options = dict(options.pop("backbone", None) or {})
    required = info.required_for(backbone_options.get("name", entry.backbone))
    _check_no_conflict(backbone_options, required, info)
    model = build_model(name, backbone={**backbone_options, **required}, **options)
    backbone_config = model.backbone.config
    _check_same(backbone_config.name, backbone_config.options, info)
    load_backbone(model.backbone, info, cache_dir)
    pre = dict(model.default_preprocessing())
    if model.backbone.preprocessing:  # the backbone's normalisation, the task's resizing
        backbone_pre = Preprocessing.from_dict(model.backbone.preprocessing)  # a record's dict or a loaded file's
        pre.update(mean=backbone_pre.mean, std=backbone_pre.std)
    model.preprocessing, model.class_names = pre, []
    return model


def create_model(name: str | ModelConfig | Mapping[str, Any] | None = None,
                 weights: str | os.PathLike[str] | None = None, *, pretrained: bool = False,
                 cache_dir: str | None = None, **options: Any) -> nn.Module:
    """A registered model (see the module docstring); in eval mode when weights were loaded."""
    if name is not None and not isinstance(name, str):
        config = ModelConfig.from_dict(name)
        name = config.name
        options = {**config.options, **({"backbone": config.backbone.to_dict()} if config.backbone else {}),
                   **options}
    if pretrained:
        if weights is not None:
            raise ValueError("pass either pretrained=True or weights=..., not both")
        if name is None:
            raise ValueError("pretrained=True needs a model name")
        weights = default_weights(name)
    if weights is None:
        if name is None:
            raise ValueError("create_model needs a model name, a model config, or weights that name their model")
        model = build_model(name, **options)
        model.preprocessing, model.class_names = None, []
        return model
    info = inspect_weights(weights)
    if name is None:
        if info.model_name is None:
            raise ValueError(f"{info.reference!r} is a {info.kind} file that does not say which model it holds; "
                             "pass the model name (see mobilenet.list_models())")
        name = info.model_name
    entry = get_entry(name)
    model = (_classifier if entry.task == "classification" else _task_model)(name, info, dict(options), cache_dir)
    if not getattr(model, "preprocessing", None):
        model.preprocessing = default_preprocessing(model)
    return model.eval()


def create_pretrained(weights: str, cache_dir: str | None = None, **options: Any) -> nn.Module:
    """The model a weights record (or self-describing file) needs, loaded, in eval mode."""
    return create_model(weights=weights, cache_dir=cache_dir, **options)
