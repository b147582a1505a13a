"""``load_weights(model, weights)``: a record name or a local file, into a model of ours.

Files are recognised by content: our format (``.safetensors`` with our metadata), training
checkpoints (``torch.save`` dicts with ``model_config``), Keras files (``.h5``, ``.keras``), and
plain ``state_dict`` files of torchvision, timm or ours (``.pth``, ``.pt``, ``.bin``,
``.safetensors``), told apart by their key names. After loading, ``model.preprocessing`` and
``model.class_names`` say how to feed the model and what its outputs mean (None / [] when the
file does not say).
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mobilenet.weights import format as ours
from mobilenet.weights import keras, timm, torchvision
from mobilenet.weights.download import fetch
from mobilenet.weights.labels import class_names
from mobilenet.weights.records import RECORDS, SIGNED_UNIT, Preprocessing, WeightsRecord, get_record

_STRUCTURAL = ("padding", "bn_eps", "convention", "num_classes", "in_chans", "reduced_tail", "fixed_stem")
_TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".safetensors")


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


def _torch_state(path: Path, trusted: bool = False) -> Any:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        ours.metadata(path)  # a clear error for truncated or foreign files
        return load_file(str(path))
    try:
        return torch.load(str(path), map_location="cpu", weights_only=not trusted)
    except pickle.UnpicklingError:
        raise ValueError(f"{path} holds Python objects besides tensors (a training checkpoint?); load it "
                         "with --checkpoint / trusted=True if you trust its origin") from None
    except Exception as error:  # zip errors for truncated or foreign files have many types
        raise ValueError(f"cannot read {path} as a PyTorch file ({type(error).__name__}: "
                         f"{str(error)[:120]}); is the download complete?") from None


def read_file(path: str | os.PathLike[str], trusted: bool = False) -> LoadedFile:
    """Open a local weights file and tell what it is.

    ``trusted`` allows full unpickling of ``torch.save`` files (training checkpoints hold optimiser
    and RNG states); otherwise only tensors and plain containers are read.
    """
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
    data = _torch_state(path, trusted)
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


def source_defaults(kind: str, model: nn.Module) -> tuple[dict[str, Any] | None, list[str]]:
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
    return pre.to_dict(), names


def apply_file(model: nn.Module, loaded: LoadedFile) -> None:
    """Fill ``model`` from a file opened by ``read_file`` (strict: all or nothing).

    For a peer's file that records no preprocessing or labels, the source's usual ones are
    assumed (``source_defaults``).
    """
    origin = str(loaded.path)
    if loaded.kind == "keras":
        keras.load(model, loaded.path)
    elif loaded.kind == "torchvision":
        torchvision.load(model, loaded.state_dict, origin)
    elif loaded.kind == "timm":
        timm.load(model, loaded.state_dict, origin)
    else:
        ours.load_into(model, ours.SavedWeights({}, loaded.state_dict), origin)
    if loaded.kind in ("keras", "torchvision", "timm"):
        loaded.preprocessing, loaded.class_names = source_defaults(loaded.kind, model)
    model.preprocessing = loaded.preprocessing
    model.class_names = loaded.class_names


def load_file(model: nn.Module, path: str | os.PathLike[str], trusted: bool = False) -> LoadedFile:
    """Fill ``model`` from a local file (strict: all or nothing); returns what the file said."""
    loaded = read_file(path, trusted)
    apply_file(model, loaded)
    return loaded


def check_fits(model: nn.Module, record: WeightsRecord) -> None:
    """A ValueError saying how to build the model if it is not the one ``record``'s weights need."""
    from mobilenet.models.registry import get_entry, model_spec

    options = record.create_options()
    config = getattr(model, "config", {})
    wanted = model_spec(record.model, options.get("convention", "paper")).name
    mismatched = [k for k in _STRUCTURAL if k in options and config.get(k) != options[k]]
    if getattr(model, "width_mult", None) != get_entry(record.model).width_mult or model.spec.name != wanted:
        mismatched.insert(0, "architecture")
    if mismatched:
        args = ", ".join(f"{k}={v!r}" for k, v in options.items() if k != "resolution")
        raise ValueError(f"weights {record.name!r} need create_model({record.model!r}, {args}) "
                         f"(this model differs in {', '.join(mismatched)}); or use "
                         f"mobilenet.weights.create_pretrained({record.name!r})")


def load_weights(model: nn.Module, weights: str | os.PathLike[str], cache_dir: str | None = None) -> nn.Module:
    """Load a weights record (downloaded and cached) or a local file into ``model``, strictly."""
    path = Path(weights)
    if str(weights) not in RECORDS:
        if path.exists():
            load_file(model, path)
            return model
        if path.suffix in _TORCH_SUFFIXES + keras.SUFFIXES:
            raise FileNotFoundError(f"weights file {str(weights)!r} not found")
    record = get_record(str(weights))
    if record.unsupported:
        raise ValueError(f"weights {record.name!r} cannot be loaded: {record.unsupported}")
    check_fits(model, record)
    file = fetch(record, cache_dir)
    if record.source == "keras":
        keras.load(model, file)
    else:
        state = read_file(file).state_dict
        (torchvision if record.source == "torchvision" else timm).load(model, state, record.name)
    model.preprocessing = record.preprocessing.to_dict()
    model.class_names = class_names(record.labels)
    return model


def create_pretrained(name: str, cache_dir: str | None = None, **overrides: Any) -> nn.Module:
    """The model a weights record needs, built with the record's options and loaded, in eval mode."""
    from mobilenet.models.registry import create_model

    record = get_record(name)
    model = create_model(record.model, **{**record.create_options(), **overrides})
    return load_weights(model, name, cache_dir).eval()


def build_model(weights: str, model_name: str | None = None, cache_dir: str | None = None,
                trusted: bool = False, **options: Any) -> nn.Module:
    """The model for ``weights`` (record, our format, checkpoint, or a peer's file + ``model_name``).

    ``trusted``: ``weights`` is a training checkpoint of one's own (see ``read_file``).
    """
    from mobilenet.models.registry import create_model

    if weights in RECORDS:
        record = get_record(weights)
        if model_name and model_name != record.model:
            raise ValueError(f"weights {weights!r} are for {record.model}, not {model_name}; drop --model")
        return create_pretrained(weights, cache_dir)
    loaded = read_file(weights, trusted)
    if loaded.model_config is not None:
        config = dict(loaded.model_config)
        name = config.pop("name")
        if model_name and model_name != name:
            raise ValueError(f"{weights} holds a {name}, not {model_name}; drop --model")
        model = create_model(name, **config)
    elif model_name:
        model = create_model(model_name, **{**source_options(loaded.kind, model_name), **options})
    else:
        raise ValueError(f"{weights} is a {loaded.kind} file without a model config; pass --model NAME "
                         "(see `mobilenet list`)")
    apply_file(model, loaded)
    return model.eval()
