"""Keras Applications' MobileNet, MobileNetV2 and MobileNetV3 files into our models.

Reads Keras 2 and Keras 3 full-model ``.h5`` files (``model_weights/<layer>/<layer>/kernel:0``),
legacy weights-only ``.h5``, Keras 3 ``.keras`` archives (``model.weights.h5`` stores layers
under class-based names such as ``conv2d_12``; ``config.json`` gives their real names in order)
and Keras 3 ``.weights.h5`` files (class-based names only: matched by order within each class).
Layouts: kernels (H, W, in, out) -> (out, in, H, W), depthwise (H, W, C, 1) -> (C, 1, H, W),
dense (in, out) -> (out, in). Keras batch norm uses epsilon 1e-3: the records build with
``bn_eps=1e-3``. Only h5py is needed, not Keras.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mobilenet.blocks import DepthwiseSeparable
from mobilenet.extras import require
from mobilenet.weights.mapping import Unit, conv_bn, load_mapped

SUFFIXES = (".h5", ".hdf5", ".keras")


def _h5py() -> Any:
    return require("h5py", "reading Keras files")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _var_name(weight_name: str) -> str:
    """``conv_dw_1/depthwise_kernel:0`` -> ``kernel`` (Keras 3 calls the depthwise kernel ``kernel``)."""
    name = weight_name.split("/")[-1].split(":")[0]
    return "kernel" if name == "depthwise_kernel" else name


def _read_legacy(group: Any) -> dict[str, np.ndarray]:
    tensors: dict[str, np.ndarray] = {}
    for layer in (_text(n) for n in group.attrs["layer_names"]):
        layer_group = group[layer]
        for weight in (_text(w) for w in layer_group.attrs["weight_names"]):
            tensors[f"{layer}/{_var_name(weight)}"] = np.asarray(layer_group[weight])
    return tensors


def _snake(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()  # Keras naming.to_snake_case


def _stored_names(classes: list[str]) -> list[str]:
    """Where Keras 3 stores each layer: ``layers/<class>`` then ``layers/<class>_1``, ... per class."""
    seen: dict[str, int] = {}
    names = []
    for snake in classes:
        seen[snake] = seen.get(snake, -1) + 1
        names.append(f"layers/{snake}" + (f"_{seen[snake]}" if seen[snake] else ""))
    return names


def _var_names(class_name: str, config: dict[str, Any]) -> list[str]:
    if class_name == "BatchNormalization":
        return (["gamma"] if config.get("scale", True) else []) + (["beta"] if config.get("center", True) else []) \
            + ["moving_mean", "moving_variance"]
    return ["kernel"] + (["bias"] if config.get("use_bias", True) else [])


def _read_keras_archive(path: Path) -> dict[str, np.ndarray]:
    h5py = _h5py()
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
        weights = archive.read("model.weights.h5")
    layers = config.get("config", {}).get("layers", [])
    tensors: dict[str, np.ndarray] = {}
    with h5py.File(io.BytesIO(weights), "r") as handle:
        for layer, stored in zip(layers, _stored_names([_snake(layer["class_name"]) for layer in layers])):
            class_name, layer_config = layer["class_name"], layer.get("config", {})
            if f"{stored}/vars" not in handle:
                continue
            variables = handle[f"{stored}/vars"]
            if len(variables) == 0:
                continue
            names = _var_names(class_name, layer_config)
            if len(names) != len(variables):
                raise ValueError(f"{path}: layer {layer_config.get('name')!r} ({class_name}) has {len(variables)} "
                                 f"variables, expected {len(names)}")
            for i, name in enumerate(names):
                tensors[f"{layer_config['name']}/{name}"] = np.asarray(variables[str(i)])
    return tensors


_KERAS_CLASS = {"conv": "conv2d", "conv_bias": "conv2d", "conv_as_linear": "conv2d", "dwconv": "depthwise_conv2d",
                "bn": "batch_normalization", "linear": "dense"}


def _read_weights_only(handle: Any, units: list[Unit]) -> dict[str, np.ndarray]:
    """A Keras 3 ``.weights.h5``: layers stored as ``layers/<class>_<n>/vars/<i>`` without names.

    The n-th layer of a class is the n-th unit of that class in ``units``, which follow the
    Keras model's layer order; variables not claimed that way are kept under their stored names
    so that the strict loader reports them.
    """
    tensors: dict[str, np.ndarray] = {}
    claimed: set[str] = set()
    for unit, stored in zip(units, _stored_names([_KERAS_CLASS[unit.kind] for unit in units])):
        if f"{stored}/vars" not in handle:
            continue
        variables = handle[f"{stored}/vars"]
        names = (["gamma", "beta", "moving_mean", "moving_variance"] if unit.kind == "bn"
                 else ["kernel", "bias"])[: len(variables)]
        for i, name in enumerate(names):
            tensors[f"{unit.source}/{name}"] = np.asarray(variables[str(i)])
        claimed.add(stored)

    def leftover(name: str, obj: Any) -> None:
        if hasattr(obj, "shape") and name.rsplit("/vars/", 1)[0] not in claimed:
            tensors[name] = np.asarray(obj)
    handle.visititems(leftover)
    return tensors


def read(path: str | Path, units: list[Unit] | None = None) -> dict[str, torch.Tensor]:
    """All weights of a Keras file as ``{"<layer>/<kernel|bias|gamma|...>": tensor}``.

    ``units`` (our key map) names the layers of a Keras 3 weights-only file, which has no names.
    """
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            tensors = _read_keras_archive(path)
        else:
            h5py = _h5py()
            with h5py.File(path, "r") as handle:
                group = handle["model_weights"] if "model_weights" in handle else handle
                if "layer_names" in group.attrs:
                    tensors = _read_legacy(group)
                elif "layers" in handle and units is not None:
                    tensors = _read_weights_only(handle, units)
                else:
                    raise ValueError(f"{path} holds no Keras layers (neither layer names nor a 'layers' group)")
    except (OSError, KeyError, zipfile.BadZipFile) as error:
        raise ValueError(f"cannot read {path} as a Keras .h5/.keras file ({error}); is it complete?") from None
    return {name: torch.from_numpy(np.array(value, dtype=np.float32)) for name, value in tensors.items()}


def _v1_units(model: nn.Module) -> list[Unit]:
    units = conv_bn("stem", "conv1", "conv1_bn")
    for i, _ in enumerate(model.blocks):
        k = i + 1
        units += conv_bn(f"blocks.{i}.depthwise", f"conv_dw_{k}", f"conv_dw_{k}_bn", depthwise=True)
        units += conv_bn(f"blocks.{i}.pointwise", f"conv_pw_{k}", f"conv_pw_{k}_bn")
    return units + [Unit("classifier", "conv_preds", "conv_as_linear")]


def _bottleneck_units(model: nn.Module, v3: bool) -> list[Unit]:
    bn = "_bn" if v3 else "_BN"
    units = conv_bn("stem", "conv", "conv_bn") if v3 else conv_bn("stem", "Conv1", "bn_Conv1")
    for i, block in enumerate(model.blocks):
        prefix = "expanded_conv_" if i == 0 else (f"expanded_conv_{i}_" if v3 else f"block_{i}_")
        target = f"blocks.{i}"
        if not isinstance(block.expand, nn.Identity):
            units += conv_bn(f"{target}.expand", f"{prefix}expand", f"{prefix}expand{bn}")
        units += conv_bn(f"{target}.depthwise", f"{prefix}depthwise", f"{prefix}depthwise{bn}", depthwise=True)
        if not isinstance(block.se, nn.Identity):
            units += [Unit(f"{target}.se.reduce", f"{prefix}squeeze_excite_conv", "conv_bias"),
                      Unit(f"{target}.se.expand", f"{prefix}squeeze_excite_conv_1", "conv_bias")]
        units += conv_bn(f"{target}.project", f"{prefix}project", f"{prefix}project{bn}")
    if v3:
        return units + conv_bn("last_conv", "conv_1", "conv_1_bn") + [
            Unit("head_conv", "conv_2", "conv_as_linear"), Unit("classifier", "logits", "conv_as_linear")]
    return units + conv_bn("last_conv", "Conv_1", "Conv_1_bn") + [Unit("classifier", "predictions", "linear")]


def key_map(model: nn.Module) -> list[Unit]:
    """Our modules and Keras Applications' layer names for them."""
    if isinstance(model.blocks[0], DepthwiseSeparable):
        return _v1_units(model)
    return _bottleneck_units(model, v3=not isinstance(model.head_conv, nn.Identity))


def load(model: nn.Module, path: str | Path) -> None:
    """Fill ``model`` from a Keras Applications MobileNet file (strict, all or nothing)."""
    units = key_map(model)
    load_mapped(model, read(path, units), units, "keras", f"Keras weights {path}")
