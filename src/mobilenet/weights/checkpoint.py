"""Training checkpoints: written atomically, self-describing, read without running code.

Written by ``mobilenet.engine`` and read by every command, so it lives beside the other weights
formats. Reading uses ``torch.load(weights_only=True)``: tensors, numbers, strings and plain
containers only, so a malicious pickle cannot run code (the RNG states are stored as tensors and
lists for that reason). A checkpoint (``best.pt``, ``last.pt`` in the run folder) holds:
``format``, ``model_config`` (``mobilenet.create_model(model_config)`` rebuilds the network), ``state_dict``
(the evaluation weights: the EMA when enabled), ``class_names``, ``preprocessing`` (resolution,
crop, mean/std), ``config`` (the resolved training config), ``epoch``, ``step``, ``metrics``, and in
``last.pt`` a ``resume`` record (raw weights, optimiser, scheduler, EMA, RNG states, sampler position).
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mobilenet.files import atomic_path

FORMAT = "mobilenet-checkpoint/1"


def save_atomic(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename: a crash never leaves half a file."""
    with atomic_path(path) as temp, open(temp, "wb") as handle:
        torch.save(obj, handle)
        handle.flush()
        os.fsync(handle.fileno())


def resolve_path(path: str | Path, prefer: str = "last.pt") -> Path:
    """A checkpoint file, or a run folder (its ``prefer`` checkpoint)."""
    path = Path(path)
    if path.is_dir():
        path = path / prefer
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} not found; pass a .pt file or a run folder "
                                "that contains last.pt / best.pt")
    return path


def read_checkpoint(path: str | Path, prefer: str = "last.pt") -> dict[str, Any]:
    path = resolve_path(path, prefer)
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{str(path)!r} is not a readable checkpoint (not a PyTorch file; truncated or another "
                         "format?)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(f"{str(path)!r} holds Python objects besides tensors and plain data; it is not loaded "
                         "because unpickling them could run code (a checkpoint of an older version, or not "
                         f"ours: {str(error).splitlines()[0][:100]})") from None
    except Exception as error:  # zip errors have many types; all mean "not a checkpoint"
        raise ValueError(f"{str(path)!r} is not a readable checkpoint ({type(error).__name__}: "
                         f"{str(error)[:120]})") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a mobilenet training checkpoint (no {FORMAT!r} format tag); "
                         "load pretrained weights as weights, not as a checkpoint")
    checkpoint["path"] = str(path)
    return checkpoint


def load_state_strict(model: nn.Module, state_dict: dict[str, torch.Tensor], source: str) -> None:
    """Load every key with the right shape, or raise a ValueError that names the mismatch."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    wrong = [(k, tuple(state_dict[k].shape), tuple(own[k].shape)) for k in own
             if k in state_dict and state_dict[k].shape != own[k].shape]
    classifier = [w for w in wrong if w[0].startswith("classifier.") and w[1][0] != w[2][0]]
    if classifier:
        key, theirs, ours = classifier[0]
        raise ValueError(f"{source} has {theirs[0]} classes but the model has {ours[0]} ({key}: {theirs} vs "
                         f"{ours}); build the model with num_classes={theirs[0]}, or load it as pretrained "
                         "weights to get a new head")
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            parts.append("shape mismatch " + ", ".join(f"{k} {a} vs model {b}" for k, a, b in wrong[:3]))
        if missing:
            parts.append(f"{len(missing)} missing key(s) (first: {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s) (first: {unexpected[0]})")
        raise ValueError(f"{source} does not fit this model: {'; '.join(parts)}; it was saved from a different "
                         "architecture, width or convention")
    model.load_state_dict(state_dict)


def model_from_checkpoint(path: str | Path, prefer: str = "best.pt") -> tuple[nn.Module, dict[str, Any]]:
    """The network a checkpoint describes, with its weights, preprocessing and class names, and
    the checkpoint record."""
    from mobilenet.data.preprocessing import Preprocessing
    from mobilenet.models.registry import build_model

    checkpoint = read_checkpoint(path, prefer)
    model = build_model(checkpoint["model_config"])
    load_state_strict(model, checkpoint["state_dict"], f"checkpoint {checkpoint['path']!r}")
    pre = checkpoint.get("preprocessing")
    model.preprocessing = Preprocessing.from_dict(pre) if pre else None
    model.class_names = list(checkpoint.get("class_names") or [])
    model.eval()
    return model, checkpoint
