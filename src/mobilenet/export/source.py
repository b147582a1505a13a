"""What ``mobilenet export`` and ``bench`` start from: a registered name or a training checkpoint.

A checkpoint is a ``torch.save`` dict (or a ``.safetensors`` file whose metadata holds the same
JSON fields) with the model ``config`` (what ``create_model(**config)`` takes), its weights under
``state_dict`` or ``model``, and optionally ``class_names`` and ``preprocess``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mobilenet.export.images import Preprocess
from mobilenet.models.mobilenet import MobileNet
from mobilenet.models.registry import MODELS, create_model

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors")


@dataclass
class Source:
    """A model ready to export, with what the exported file must remember about it."""

    model: MobileNet
    name: str
    preprocess: Preprocess
    class_names: list[str] = field(default_factory=list)


def _read_checkpoint(path: Path) -> dict[str, Any]:
    if path.suffix == ".safetensors":
        from safetensors import safe_open
        from safetensors.torch import load_file

        try:
            with safe_open(str(path), "pt") as handle:
                meta = handle.metadata() or {}
            state = load_file(str(path))
        except Exception as error:  # safetensors raises its own error types for bad headers
            raise ValueError(f"cannot read {str(path)!r} as safetensors ({error}); is the file complete?") from None
        return {"state_dict": state, **{k: json.loads(v) for k, v in meta.items() if k != "format"}}
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # zip/pickle errors for truncated or foreign files
        raise ValueError(
            f"cannot read checkpoint {str(path)!r} ({type(error).__name__}: {str(error)[:120]}); "
            "is it a complete file saved by `mobilenet train`?"
        ) from None
    if not isinstance(data, dict):
        raise ValueError(f"checkpoint {str(path)!r} holds a {type(data).__name__}, expected a dict with 'config'")
    return data


def load_source(model_or_checkpoint: str, resolution: int | None = None, num_classes: int | None = None) -> Source:
    """Build the model named by a registry name or stored in a checkpoint file, in eval mode."""
    path = Path(model_or_checkpoint)
    if model_or_checkpoint in MODELS:
        options: dict[str, Any] = {}
        if resolution is not None:
            options["resolution"] = resolution
        if num_classes is not None:
            options["num_classes"] = num_classes
        model = create_model(model_or_checkpoint, **options).eval()
        return Source(model, model_or_checkpoint, Preprocess.default(model.resolution))
    if not path.exists():
        raise FileNotFoundError(
            f"{model_or_checkpoint!r} is neither a registered model (see `mobilenet list`) nor an existing "
            f"checkpoint file ({', '.join(CHECKPOINT_SUFFIXES)})"
        )
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a folder; pass a checkpoint file or a model name")
    data = _read_checkpoint(path)
    config = data.get("config") or data.get("model_config")
    if not isinstance(config, dict) or "name" not in config:
        raise ValueError(f"checkpoint {str(path)!r} has no model 'config' with a 'name'; save it with model.config")
    config = dict(config)
    if resolution is not None:
        config["resolution"] = resolution
    state = data.get("state_dict", data.get("model"))
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {str(path)!r} has no 'state_dict' (or 'model') weights")
    model = create_model(**config)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"checkpoint {str(path)!r} does not fit {config['name']}: missing {list(missing)[:3]}, "
            f"unexpected {list(unexpected)[:3]}"
        )
    model.eval()
    class_names = list(data.get("class_names") or data.get("classes") or [])
    meta = data.get("preprocess")
    preprocess = Preprocess.from_dict({**meta, "resolution": model.resolution}) if isinstance(meta, dict) \
        else Preprocess.default(model.resolution)
    return Source(model, path.stem, preprocess, class_names)


def save_checkpoint(source: Source, path: str | Path) -> None:
    """Write ``source`` as a checkpoint ``load_source`` reads (used by QAT and tests)."""
    torch.save({"config": source.model.config, "state_dict": source.model.state_dict(),
                "class_names": source.class_names, "preprocess": json.loads(source.preprocess.to_json())},
               str(path))
