"""Weights into models: what a record or file says about the model it fits, and strict loading.

Files are recognised by content: our format (``.safetensors`` with our metadata), training
checkpoints (``torch.save`` dicts with ``model_config``), Keras files (``.h5``, ``.keras``), and
plain ``state_dict`` files of torchvision, timm or ours (``.pth``, ``.pt``, ``.bin``,
``.safetensors``), told apart by their key names. ``inspect_weights`` says what a record or file
needs (its model, the options such as TF padding and BN epsilon, classes, preprocessing) without
building anything; ``load_weights`` fills a built model, strictly; ``load_backbone`` fills only a
task model's backbone from a classification checkpoint. After loading, ``model.preprocessing``
and ``model.class_names`` say how to feed the model and what its outputs mean.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mobilenet.models.config import ModelConfig
from mobilenet.models.registry import build_model, get_entry, model_spec
from mobilenet.weights import format as ours
from mobilenet.weights import keras, timm, torchvision
from mobilenet.weights.download import fetch
from mobilenet.weights.labels import class_names
from mobilenet.data.preprocessing import SIGNED_UNIT, Preprocessing
from mobilenet.weights.records import RECORDS, WeightsRecord, get_record

STRUCTURAL = ("padding", "bn_eps", "convention", "in_chans", "reduced_tail", "fixed_stem", "shrink_last_conv")
"""Options that decide the weights' shapes or numerics: a file that needs them cannot do without."""
_TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".safetensors")
WEIGHT_SUFFIXES = (*_TORCH_SUFFIXES, *keras.SUFFIXES, ".tflite")
"""Files ``inspect_weights`` reads (a missing one is a missing file, not an unknown record)."""
_BACKBONE_ONLY = ("features_only", "out_indices", "feature_location", "drop_last_conv", "feature_taps")


@dataclass
class LoadedFile:
    """A local weights file, read: its kind and what it says about the model it fits."""

    kind: str
    """``ours``, ``checkpoint``, ``keras``, ``torchvision``, ``timm`` or ``state_dict`` (ours)."""
    path: Path
    state_dict: dict[str, torch.Tensor] = field(default_factory=dict)
    model_config: dict[str, Any] | None = None
    preprocessing: dict[str, Any] | None = None
    class_names: list[str] = field(default_factory=list)


def _torch_state(path: Path) -> Any:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        ours.metadata(path)  # a clear error for truncated or foreign files
        return load_file(str(path))
    if not zipfile.is_zipfile(path):
        raise ValueError(f"cannot read {path} as a PyTorch file (not a torch.save archive); is the download "
                         "complete?")
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(f"{path} holds Python objects besides tensors, which are not loaded because "
                         f"unpickling them can run code ({str(error).splitlines()[0][:120]})") from None
    except Exception as error:  # zip errors for truncated or foreign files have many types
        raise ValueError(f"cannot read {path} as a PyTorch file ({type(error).__name__}: "
                         f"{str(error)[:120]}); is the download complete?") from None


def read_file(path: str | os.PathLike[str]) -> LoadedFile:
    """Open a local weights file and tell what it is (tensors and plain data only: no code runs)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {str(path)!r} not found")
    if path.suffix in keras.SUFFIXES:
        return LoadedFile("keras", path)
    if path.suffix == ".tflite":  # a TFLite MobileNet classifier, matched by structure
        from mobilenet.weights.tflite import read_tflite

        return read_tflite(path)
    if path.suffix == ".safetensors" and ours.is_ours(path):
        saved = ours.read(path)
        return LoadedFile("ours", path, saved.state_dict, saved.model_config, saved.preprocessing, saved.class_names)
    if path.suffix not in _TORCH_SUFFIXES:
        raise ValueError(f"unknown weights file type {path.suffix!r} for {path}; expected one of "
                         f"{', '.join(_TORCH_SUFFIXES + keras.SUFFIXES)}")
    data = _torch_state(path)
    if isinstance(data, dict) and "model_config" in data and isinstance(data.get("state_dict"), dict):
        return LoadedFile("checkpoint", path, data["state_dict"], dict(data["model_config"]),
                          data.get("preprocessing"), list(data.get("class_names") or []))
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ValueError(f"{path} holds no state dict of tensors")
    for kind, marker in (("torchvision", torchvision.MARKER), ("timm", timm.MARKER),
                         ("state_dict", "stem.conv.weight")):
        if marker in data:
            return LoadedFile(kind, path, data)
    raise ValueError(f"{path} is not a MobileNet file of torchvision ({torchvision.MARKER}), timm "
                     f"({timm.MARKER}) or ours (stem.conv.weight); its first keys: {', '.join(list(data)[:3])}")


def source_options(kind: str, model_name: str) -> dict[str, Any]:
    """The ``create_model`` options a file of ``kind`` needs when no record says so."""
    if kind == "keras":
        return {"padding": "keras_v1" if model_name.startswith("mobilenet_v1") else "tf_same", "bn_eps": 1e-3}
    if kind == "torchvision":
        return {"convention": "torchvision"}
    return {}


def source_defaults(kind: str, model: nn.Module) -> tuple[Preprocessing | None, list[str]]:
    """Preprocessing and class names a peer's file implies when it records none.

    Keras: [-1, 1], square resize; torchvision: ImageNet mean/std, resize 256, crop 224; timm:
    [-1, 1] for its TF ports (SAME padding), ImageNet mean/std otherwise. Labels: ImageNet when
    the classifier has 1000 (or 1001 with background) outputs.
    """
    labels = {1000: "imagenet1k", 1001: "imagenet1k+background"}.get(getattr(model, "num_classes", 0))
    names = class_names(labels) if labels and kind in ("keras", "torchvision", "timm") else []
    resolution = getattr(model, "resolution", 224)
    if kind == "keras":
        pre = Preprocessing(resolution, crop_pct=1.0, resize_mode="squash", mean=SIGNED_UNIT, std=SIGNED_UNIT)
    elif kind == "torchvision":
        pre = Preprocessing(resolution, crop_pct=0.875)
    elif kind == "timm" and getattr(model, "padding", "") == "tf_same":
        pre = Preprocessing(resolution, crop_pct=0.875, mean=SIGNED_UNIT, std=SIGNED_UNIT)
    elif kind == "timm":
        pre = Preprocessing(resolution, crop_pct=0.875, interpolation="bicubic")
    else:
        return None, names
    return pre, names


def _classes_in(state_dict: dict[str, torch.Tensor]) -> int | None:
    """The classifier's output count of a torchvision, timm or our state dict (None: not found)."""
    for key in ("classifier.weight", "classifier.3.weight", "classifier.1.weight"):
        if key in state_dict and state_dict[key].dim() >= 2:
            return int(state_dict[key].shape[0])
    return None


@dataclass
class WeightsInfo:
    """What a weights record or file says about the model it fits, before anything is built."""

    reference: str
    kind: str
    """The record's source (``torchvision``, ``timm``, ``keras``) or the file kind (``read_file``)."""
    model_name: str | None
    """The registered model the weights were made for; None for peers' files that do not say."""
    task: str = "classification"
    required: dict[str, Any] = field(default_factory=dict)
    """Options the weights need (``STRUCTURAL``); files without a model name get them per model."""
    num_classes: int | None = None
    config: ModelConfig | None = None
    preprocessing: Preprocessing | None = None
    class_names: list[str] = field(default_factory=list)
    record: WeightsRecord | None = None
    loaded: LoadedFile | None = None

    def required_for(self, model_name: str) -> dict[str, Any]:
        """The options a model called ``model_name`` needs to take these weights."""
        if self.loaded is not None and self.config is None:
            return source_options(self.kind, model_name)
        return dict(self.required)


def inspect_weights(weights: str | os.PathLike[str]) -> WeightsInfo:
    """What ``weights`` (a record name or a local file) need, without building or downloading."""
    reference = str(weights)
    if reference in RECORDS:
        record = get_record(reference)
        if record.unsupported:
            raise ValueError(f"weights {record.name!r} cannot be loaded: {record.unsupported}")
        options = record.create_options()
        required = {k: v for k, v in options.items() if k in STRUCTURAL}
        return WeightsInfo(reference, record.source, record.model, "classification", required,
                           options.get("num_classes"), None, record.preprocessing,
                           class_names(record.labels), record=record)
    path = Path(weights)
    if not path.exists() and path.suffix.lower() in WEIGHT_SUFFIXES:
        raise FileNotFoundError(f"weights file {reference!r} not found")
    if not path.exists():
        get_record(reference)  # raises with the similar record names
    loaded = read_file(path)
    pre = Preprocessing.from_dict(loaded.preprocessing) if loaded.preprocessing else None
    if loaded.model_config is None:
        return WeightsInfo(reference, loaded.kind, None, num_classes=_classes_in(loaded.state_dict),
                           preprocessing=pre, class_names=loaded.class_names, loaded=loaded)
    config = ModelConfig.from_dict(loaded.model_config)
    required = {k: v for k, v in config.options.items() if k in STRUCTURAL}
    return WeightsInfo(reference, loaded.kind, config.name, config.task, required, config.options.get("num_classes"),
                       config, pre, loaded.class_names, loaded=loaded)


def check_fits(model: nn.Module, record: WeightsRecord) -> None:
    """A ValueError saying how to build the model if it is not the one ``record``'s weights need."""
    options = record.create_options()
    config = model.config.options if hasattr(model, "config") else {}
    wanted = model_spec(record.model, options.get("convention", "paper")).name
    mismatched = [k for k in STRUCTURAL + ("num_classes",) if k in options and config.get(k) != options[k]]
    if getattr(model, "width_mult", None) != get_entry(record.model).width_mult or model.spec.name != wanted:
        mismatched.insert(0, "architecture")
    if mismatched:
        args = ", ".join(f"{k}={v!r}" for k, v in options.items() if k != "resolution")
        raise ValueError(f"weights {record.name!r} need create_model({record.model!r}, {args}) "
                         f"(this model differs in {', '.join(mismatched)}); or use "
                         f"mobilenet.create_model(weights={record.name!r})")


def _load_state(model: nn.Module, info: WeightsInfo, cache_dir: str | None) -> None:
    """Fill ``model`` (built to fit ``info``) strictly; sets its preprocessing and class names."""
    if info.record is not None:
        check_fits(model, info.record)
        file = fetch(info.record, cache_dir)
        if info.record.source == "keras":
            keras.load(model, file)
        else:
            state = read_file(file).state_dict
            (torchvision if info.record.source == "torchvision" else timm).load(model, state, info.record.name)
        model.preprocessing, model.class_names = info.preprocessing, list(info.class_names)
        return
    loaded = info.loaded
    assert loaded is not None
    origin = str(loaded.path)
    if loaded.kind == "keras":
        keras.load(model, loaded.path)
    elif loaded.kind == "torchvision":
        torchvision.load(model, loaded.state_dict, origin)
    elif loaded.kind == "timm":
        timm.load(model, loaded.state_dict, origin)
    else:
        ours.load_into(model, ours.SavedWeights({}, loaded.state_dict), origin)
    preprocessing, names = info.preprocessing, info.class_names
    if loaded.kind in ("keras", "torchvision", "timm"):
        preprocessing, names = source_defaults(loaded.kind, model)
    model.preprocessing, model.class_names = preprocessing, list(names)


def load_weights(model: nn.Module, weights: str | os.PathLike[str] | WeightsInfo,
                 cache_dir: str | None = None) -> nn.Module:
    """Load a weights record (downloaded and cached) or a local file into ``model``, strictly."""
    info = weights if isinstance(weights, WeightsInfo) else inspect_weights(weights)
    _load_state(model, info, cache_dir)
    return model


def load_file(model: nn.Module, path: str | os.PathLike[str]) -> WeightsInfo:
    """Fill ``model`` from a local file (strict: all or nothing); returns what the file said."""
    info = inspect_weights(path)
    _load_state(model, info, None)
    return info


def load_backbone(backbone: nn.Module, info: WeightsInfo, cache_dir: str | None = None) -> None:
    """Fill a task model's ``features_only`` backbone from classification weights.

    The weights load strictly into the full classifier of the backbone's config (so every
    converter and check applies), then the trunk tensors the backbone has are copied; the
    classifier head is what is left out.
    """
    options = {k: v for k, v in backbone.config.options.items() if k not in _BACKBONE_ONLY}
    options["num_classes"] = info.num_classes or 1000
    full = build_model(backbone.config.name, **options)
    _load_state(full, info, cache_dir)
    source = full.state_dict()
    backbone.load_state_dict({key: source[key] for key in backbone.state_dict()}, strict=True)
    backbone.preprocessing = full.preprocessing
