"""What every exported file promises, whatever its runtime: which module is exported, the names of
its outputs, the metadata record it carries and how its outputs are checked against PyTorch.

ONNX (``export.onnx``), LiteRT (``export.litert``) and ExecuTorch (``export.executorch``) files all
export ``export_module(model, postprocess)`` (a task model's ``export_form``), name its outputs
``output_names(model)`` and store ``metadata_record(source)`` (preprocessing, class names, config).
Nothing here imports a runtime.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch

import mobilenet
from mobilenet.sources import ModelSource


class ExportCheckError(ValueError):
    """The exported file does not reproduce the PyTorch model; nothing is written."""


def output_names(model: torch.nn.Module) -> list[str]:
    """The names of a model's outputs in an exported file: its ``output_names`` (task models), else
    ``logits``."""
    return list(getattr(model, "output_names", ("logits",)))


def export_module(model: torch.nn.Module, postprocess: bool = False) -> torch.nn.Module:
    """What is exported: the model, or its ``export_form(postprocess)`` (task models, e.g. a
    detector with or without NMS inside)."""
    form = getattr(model, "export_form", None)
    return form(postprocess=postprocess) if callable(form) else model


def as_list(outputs: Any) -> list[torch.Tensor]:
    """A model's outputs (a tensor, a tuple or a dict in ``output_names`` order) as a list."""
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    if isinstance(outputs, dict):
        return list(outputs.values())
    return list(outputs)


class NamedOutputs(torch.nn.Module):
    """``module`` returning a dict ``{output name: tensor}``: the names exporters give the file's outputs
    (LiteRT signature outputs, the ExecuTorch output spec), so each output is checked by name."""

    def __init__(self, module: torch.nn.Module, names: Sequence[str]) -> None:
        super().__init__()
        self.module, self.names = module, list(names)

    def forward(self, input: torch.Tensor) -> dict[str, torch.Tensor]:  # noqa: A002  (the file's input name)
        outputs = as_list(self.module(input))
        if len(outputs) != len(self.names):
            raise ExportCheckError(f"the model returns {len(outputs)} outputs but names {len(self.names)} "
                                   f"({', '.join(self.names)})")
        return dict(zip(self.names, outputs))


def metadata_record(source: ModelSource, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What an exported file says about itself: preprocessing, class names, config, task, outputs."""
    extra = dict(extra or {})
    return {
        "preprocessing": source.preprocessing.described(),
        "class_names": source.class_names,
        "config": source.model.config.to_dict(),
        "task": source.model.config.task,
        "outputs": output_names(export_module(source.model, bool(extra.get("postprocess")))),
        "source": source.name,
        "version": mobilenet.__version__,
        **extra,
    }


def compare_outputs(got: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray], runtime: str) -> float:
    """Max abs difference over every output, matched by name; for integer outputs (class indices, e.g. a
    segmenter's arg-max) the fraction of elements that differ, as a near-tie of two scores may flip in the
    last float bit. An ``ExportCheckError`` when a name or shape differs."""
    if sorted(got) != sorted(expected):
        raise ExportCheckError(f"the {runtime} file has outputs {', '.join(got) or 'none'}, the model "
                               f"{', '.join(expected)}")
    worst = 0.0
    for name, b in expected.items():
        a = got[name]
        if a.shape != b.shape:
            raise ExportCheckError(f"output {name!r} has shape {tuple(a.shape)} in {runtime} but {tuple(b.shape)} "
                                   "in PyTorch")
        if a.size and np.issubdtype(b.dtype, np.integer):
            worst = max(worst, float(np.mean(a != b)))
        elif a.size:
            worst = max(worst, float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max()))
    return worst


def torch_outputs(model: torch.nn.Module, x: torch.Tensor, names: Sequence[str]) -> dict[str, np.ndarray]:
    """``model(x)`` as ``{name: array}`` (each output by name, in order)."""
    with torch.no_grad():
        outputs = as_list(model(x))
    if len(outputs) != len(names):
        raise ExportCheckError(f"the model returns {len(outputs)} outputs but names {len(names)} ({', '.join(names)})")
    return {name: t.detach().numpy() for name, t in zip(names, outputs)}
