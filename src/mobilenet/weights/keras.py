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
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mobilenet.blocks import DepthwiseSeparable
from mobilenet.extras import require
from mobilenet.weights.mapping import Unit, conv_bn, load_mapped, tensor_map

SUFFIXES = (".h5", ".hdf5", ".keras")


def _h5py() -> Any:
    return require("h5py", "reading Keras files")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _var_name(weight_name: str) -> str:
    """``conv_dw_1/depthwise_kernel:0`` -> ``kernel`` (Keras 3 calls the depthwise kernel ``kernel``)."""
    name = weight_name.split("/")[-1].split(":")[0]
    return "kernel" if name == "depthwise_kernel" else name


def _legacy_key(layer: str, weight: str) -> str:
    """``<layer>/<variable>``, naming the layer that owns the weight: a nested model (a Sequential
    rebuild) stores its inner layers' weights (``Conv1/kernel``) in one outer layer's group."""
    parts = weight.split(":")[0].split("/")
    return f"{parts[-2] if len(parts) >= 2 else layer}/{_var_name(weight)}"


def _read_legacy(group: Any) -> dict[str, np.ndarray]:
    tensors: dict[str, np.ndarray] = {}
    for layer in (_text(n) for n in group.attrs["layer_names"]):
        layer_group = group[layer]
        for weight in (_text(w) for w in layer_group.attrs["weight_names"]):
            key = _legacy_key(layer, weight)
            if key in tensors:
                raise ValueError(f"two weights are both called {key!r}")
            tensors[key] = np.asarray(layer_group[weight])
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
    tensors: dict[str, np.ndarray] = {}
    with h5py.File(io.BytesIO(weights), "r") as handle:
        _read_archive_layers(handle, "", config.get("config", {}).get("layers", []), tensors, path)
    return tensors


def _read_archive_layers(handle: Any, prefix: str, layers: list[dict[str, Any]], tensors: dict[str, np.ndarray],
                         path: Path) -> None:
    """Layers of a ``.keras`` archive in model order; nested models (a Sequential rebuild wrapping
    the application) keep their layers under ``<stored name>/layers/...``."""
    for layer, stored in zip(layers, _stored_names([_snake(layer["class_name"]) for layer in layers])):
        class_name, layer_config = layer["class_name"], layer.get("config", {})
        if isinstance(layer_config.get("layers"), list):
            _read_archive_layers(handle, f"{prefix}{stored}/", layer_config["layers"], tensors, path)
            continue
        if f"{prefix}{stored}/vars" not in handle:
            continue
        variables = handle[f"{prefix}{stored}/vars"]
        if len(variables) == 0:
            continue
        names = _var_names(class_name, layer_config)
        if len(names) != len(variables):
            raise ValueError(f"{path}: layer {layer_config.get('name')!r} ({class_name}) has {len(variables)} "
                             f"variables, expected {len(names)}")
        for i, name in enumerate(names):
            tensors[f"{layer_config['name']}/{name}"] = np.asarray(variables[str(i)])


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


def by_layer_order(tensors: dict[str, torch.Tensor], units: list[Unit],
                   model: nn.Module) -> dict[str, torch.Tensor] | None:
    """``tensors`` renamed to Keras Applications' names by layer order, or None unless the file's
    layers (in order) have exactly the variables and shapes of ``units`` (in order)."""
    layers: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        layer, variable = key.rsplit("/", 1) if "/" in key else ("", key)
        layers.setdefault(layer, {})[variable] = value
    if len(layers) != len(units):
        return None
    targets = model.state_dict()
    renamed: dict[str, torch.Tensor] = {}
    for unit, variables in zip(units, layers.values()):
        pairs = tensor_map([Unit(unit.target, "", unit.kind)], "keras")
        if sorted(theirs for _, theirs, _ in pairs) != sorted(variables):
            return None
        for ours, theirs, transform in pairs:
            if ours not in targets or transform(variables[theirs], targets[ours]).shape != targets[ours].shape:
                return None
            renamed[f"{unit.source}/{theirs}"] = variables[theirs]
    return renamed


def load(model: nn.Module, path: str | Path) -> None:
    """Fill ``model`` from a Keras MobileNet file (strict, all or nothing).

    Layers are found by Keras Applications' names; a file whose names differ (Model Maker, STM
    model zoo, a Sequential rebuild) loads by layer order, with a warning, when its layers in
    order match ours in every variable and shape. Otherwise the strict loader's error stands.
    """
    units = key_map(model)
    tensors = read(path, units)
    try:
        load_mapped(model, tensors, units, "keras", f"Keras weights {path}")
    except ValueError:
        renamed = by_layer_order(tensors, units, model)
        if renamed is None:
            raise
        names = dict.fromkeys(key.rsplit("/", 1)[0] for key in tensors)
        theirs, expected = next(((n, u.source) for n, u in zip(names, units) if n != u.source), ("?", "?"))
        warnings.warn(f"Keras weights {path}: layer names differ from Keras Applications' ({theirs!r} where "
                      f"{expected!r} was expected); loaded all {len(units)} layers by their order, every "
                      "shape matching", stacklevel=2)
        load_mapped(model, renamed, units, "keras", f"Keras weights {path}")
