"""Our own weights format: a ``.safetensors`` file plus a small JSON config beside it.

The safetensors header metadata holds ``format``, ``model_config`` (what
``mobilenet.create_model(model_config)`` takes), ``preprocessing``, ``class_names`` and
``source`` (each JSON-encoded), so the file alone rebuilds the model without the code that
trained or converted it; ``<name>.json`` repeats the same fields for people and other tools.
Both files are written to temporary names and renamed into place.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mobilenet.data.preprocessing import Preprocessing
from mobilenet.files import atomic_path
from mobilenet.models.config import ModelConfig
from mobilenet.weights.checkpoint import load_state_strict

FORMAT = "mobilenet-weights/1"
FIELDS = ("model_config", "preprocessing", "class_names", "source")


@dataclass
class SavedWeights:
    """What a file in our format holds."""

    model_config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    preprocessing: dict[str, Any] | None = None
    class_names: list[str] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)


def _atomic_write(path: Path, write: Any) -> None:
    with atomic_path(path) as temp:
        write(str(temp))


def config_path(path: str | os.PathLike[str]) -> Path:
    """The JSON file that goes with ``path`` (``model.safetensors`` -> ``model.json``)."""
    return Path(path).with_suffix(".json")


def save(model: nn.Module, path: str | os.PathLike[str], preprocessing: Preprocessing | None = None,
         class_names: list[str] | None = None, source: dict[str, Any] | None = None) -> Path:
    """Write ``model``'s weights and config to ``path`` (``.safetensors``) and its ``.json``."""
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"our format is a .safetensors file; got {str(path)!r} (use e.g. model.safetensors)")
    config = getattr(model, "config", None)
    if not isinstance(config, ModelConfig):
        raise ValueError("only models built with mobilenet.create_model can be saved (they know their config)")
    if class_names and model.num_classes and len(class_names) != model.num_classes:
        raise ValueError(f"{len(class_names)} class names for a model with {model.num_classes} classes")
    bad = [k for k, v in model.state_dict().items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(f"the model has non-finite (NaN or inf) values in {len(bad)} tensor(s), first {bad[0]}; "
                         "not saved")
    info = {"model_config": config.to_dict(),
            "preprocessing": Preprocessing.from_dict(preprocessing).to_dict() if preprocessing else None,
            "class_names": list(class_names or []), "source": source or {}}
    metadata = {"format": FORMAT, **{k: json.dumps(v) for k, v in info.items()}}
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    _atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
    sidecar = {"format": FORMAT, "weights": path.name, **info}
    _atomic_write(config_path(path), lambda tmp: Path(tmp).write_text(json.dumps(sidecar, indent=2) + "\n"))
    return path


def metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The safetensors header metadata of ``path`` ({} when it has none); ValueError if unreadable."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as handle:
            return dict(handle.metadata() or {})
    except Exception as error:  # safetensors raises its own types for bad or truncated headers
        raise ValueError(f"cannot read {str(path)!r} as safetensors ({error}); is the file complete?") from None


def is_ours(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a ``.safetensors`` file in our format."""
    return Path(path).suffix == ".safetensors" and metadata(path).get("format") == FORMAT


def read(path: str | os.PathLike[str]) -> SavedWeights:
    """The config, weights, preprocessing and class names of a file in our format."""
    from safetensors.torch import load_file

    path = Path(path)
    meta = metadata(path)
    if meta.get("format") != FORMAT:
        sidecar = config_path(path)
        if not sidecar.is_file():
            raise ValueError(f"{str(path)!r} is not in our format (no {FORMAT!r} metadata and no {sidecar.name})")
        meta = {k: json.dumps(v) for k, v in json.loads(sidecar.read_text()).items() if k in FIELDS}
    info = {k: json.loads(meta[k]) for k in FIELDS if k in meta}
    if not isinstance(info.get("model_config"), dict) or "name" not in info["model_config"]:
        raise ValueError(f"{str(path)!r} has no model_config with a 'name'")
    return SavedWeights(state_dict=load_file(str(path)), **info)


def load_into(model: nn.Module, saved: SavedWeights, origin: str) -> None:
    """Fill ``model`` from ``saved``: every key with the right shape, or nothing (a clear error)."""
    load_state_strict(model, saved.state_dict, origin)


def build(path: str | os.PathLike[str]) -> tuple[nn.Module, SavedWeights]:
    """Rebuild the model a file in our format describes, with its weights, in eval mode."""
    from mobilenet.models.registry import build_model

    saved = read(path)
    model = build_model(saved.model_config)
    load_into(model, saved, f"{path}")
    model.preprocessing = Preprocessing.from_dict(saved.preprocessing) if saved.preprocessing else None
    model.class_names = list(saved.class_names)
    return model.eval(), saved
