"""What ``mobilenet export`` and ``bench`` start from: a registered name or a training checkpoint.

Training checkpoints (``mobilenet train``'s ``best.pt``/``last.pt`` or its run folder) carry the
model config, weights, class names and preprocessing (``mobilenet.engine.checkpoint``); the export
keeps all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mobilenet.engine.checkpoint import model_from_checkpoint
from mobilenet.export.images import Preprocessing, default_preprocessing
from mobilenet.models.mobilenet import MobileNet
from mobilenet.models.registry import MODELS, create_model


@dataclass
class Source:
    """A model ready to export, with what the exported file must remember about it."""

    model: MobileNet
    name: str
    preprocessing: Preprocessing
    class_names: list[str] = field(default_factory=list)


def load_source(model_or_checkpoint: str, resolution: int | None = None, num_classes: int | None = None) -> Source:
    """The model named by a registry name, or stored in a checkpoint file or run folder, in eval mode."""
    if model_or_checkpoint in MODELS:
        options = {k: v for k, v in (("resolution", resolution), ("num_classes", num_classes)) if v is not None}
        model = create_model(model_or_checkpoint, **options).eval()
        return Source(model, model_or_checkpoint, default_preprocessing(model.resolution))
    if not Path(model_or_checkpoint).exists():
        raise FileNotFoundError(
            f"{model_or_checkpoint!r} is neither a registered model (see `mobilenet list`) nor an existing "
            "checkpoint file or run folder"
        )
    model, checkpoint = model_from_checkpoint(model_or_checkpoint)
    pre = dict(checkpoint.get("preprocessing") or default_preprocessing(model.resolution))
    if resolution is not None:
        pre["resolution"] = resolution
    return Source(model, Path(checkpoint["path"]).parent.name or Path(checkpoint["path"]).stem, pre,
                  list(checkpoint.get("class_names") or []))
