"""What every command starts from: one way to name a model and its weights.

A model source is any of
- a registered name (``mobilenet_v3_large``), with ``weights`` = a record or a local file, or
  without (random weights, which the caller is told);
- a weights record (``keras/mobilenet_0.25_224``) or a self-describing file (our
  ``.safetensors``, a TFLite file) alone;
- a training checkpoint (``best.pt``/``last.pt``) or a run folder (its ``best.pt``).
The input size and preprocessing come from the weights (record, file, checkpoint) unless
``resolution`` overrides the size; class names come with them too.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from torch import nn

from mobilenet.data.preprocessing import Preprocessing, as_preprocessing, default_preprocessing
from mobilenet.factory import create_model
from mobilenet.models.registry import MODELS
from mobilenet.weights.checkpoint import model_from_checkpoint, read_checkpoint
from mobilenet.weights.records import RECORDS

RANDOM_WEIGHTS_NOTE = "has random weights (no weights were given): its outputs mean nothing until it is trained"


@dataclass
class ModelSource:
    """A model ready to run or export, with what its outputs and inputs mean."""

    model: nn.Module
    name: str
    """A short name for output files: the registered name, record, run folder or file stem."""
    preprocessing: Preprocessing
    class_names: list[str] = field(default_factory=list)
    kind: str = "registered"
    """``registered`` (random weights), ``weights`` (a record or file), ``checkpoint``."""
    checkpoint: dict[str, Any] | None = None

    @property
    def random_weights(self) -> bool:
        return self.kind == "registered"

    @property
    def resolution(self) -> int:
        return self.preprocessing.resolution

    def at_resolution(self, resolution: int | None) -> "ModelSource":
        """This source run at ``resolution`` (None: its own), refused when the model cannot take that size."""
        if resolution is None:
            return self
        check = getattr(self.model, "_check_size", None)
        if check is not None:
            check(int(resolution), "resolution")
        return replace(self, preprocessing=self.preprocessing.at_resolution(int(resolution)))


def open_source(source: str, weights: str | None = None, resolution: int | None = None,
                cache_dir: str | None = None, **options: Any) -> ModelSource:
    """The model ``source`` names (see the module docstring), in eval mode."""
    path = Path(source)
    if source in MODELS:
        model = create_model(source, weights=weights, cache_dir=cache_dir,
                             **({"resolution": resolution} if resolution else {}), **options)
        kind = "weights" if weights else "registered"
        name = source
    elif weights is not None:
        raise ValueError(f"weights are given for {source!r}, which is not a registered model name; pass a registered "
                         "name (see `mobilenet list`) with weights, or the weights file or record alone")
    elif path.suffix == ".onnx":
        raise ValueError(f"{source!r} is an exported ONNX file; this needs a PyTorch model (a registered name with "
                         "weights, a checkpoint or our .safetensors)")
    elif path.is_dir() or (path.is_file() and path.suffix == ".pt" and _is_checkpoint(path)):
        model, checkpoint = model_from_checkpoint(path, prefer="best.pt")
        checkpoint_path = Path(checkpoint["path"])
        pre = as_preprocessing(checkpoint.get("preprocessing"), model.resolution)
        return ModelSource(model, checkpoint_path.parent.name or checkpoint_path.stem, pre,
                           list(checkpoint.get("class_names") or []), "checkpoint", checkpoint).at_resolution(resolution)
    elif source in RECORDS or path.is_file():
        model = create_model(weights=source, cache_dir=cache_dir, **options)
        kind, name = "weights", source.replace("/", "_") if source in RECORDS else path.stem
    else:
        raise FileNotFoundError(f"{source!r} is neither a registered model (see `mobilenet list`), a weights record "
                                "(`mobilenet weights list`), nor an existing weights file, checkpoint or run folder")
    pre = as_preprocessing(model.preprocessing or default_preprocessing(model))
    return ModelSource(model.eval(), name, pre, list(getattr(model, "class_names", []) or []), kind).at_resolution(resolution)


def _is_checkpoint(path: Path) -> bool:
    try:
        read_checkpoint(path)
    except ValueError:
        return False
    return True
