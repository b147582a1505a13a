"""One model description: what rebuilds any model of the package, classifier or task model.

A ``ModelConfig`` is the registered name, the task and the options that ``create_model`` took; a
task model (detector, segmenter) also holds its backbone's config, so a detector is a backbone
config plus a head config. Checkpoints, our safetensors format, ONNX metadata and the registry all
store and read this one description (``to_dict`` / ``from_dict``), as plain JSON-able data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

Task = Literal["classification", "detection", "segmentation"]
TASKS: tuple[str, ...] = ("classification", "detection", "segmentation")


@dataclass(frozen=True)
class ModelConfig:
    """``name`` (a registered model), ``task``, the creation ``options`` and, for task models, the
    ``backbone`` config (a classification-family config with ``features_only=True``)."""

    name: str
    task: str = "classification"
    options: Mapping[str, Any] = field(default_factory=dict)
    backbone: ModelConfig | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a model config needs a registered model name, got {self.name!r}")
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r} in the config of {self.name!r}; valid: {', '.join(TASKS)}")
        object.__setattr__(self, "options", dict(self.options))

    def to_dict(self) -> dict[str, Any]:
        """Flat JSON-able form: ``{"name", "task", **options, "backbone": {...}}``."""
        data: dict[str, Any] = {"name": self.name, "task": self.task, **self.options}
        if self.backbone is not None:
            data["backbone"] = self.backbone.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | ModelConfig) -> ModelConfig:
        """The inverse of ``to_dict``; older files without ``task`` are classifiers."""
        if isinstance(data, ModelConfig):
            return data
        if not isinstance(data, Mapping) or "name" not in data:
            raise ValueError(f"a model config must be a mapping with a 'name', got {type(data).__name__}")
        options = {k: v for k, v in data.items() if k not in ("name", "task", "backbone")}
        backbone = data.get("backbone")
        return cls(str(data["name"]), str(data.get("task", "classification")), options,
                   cls.from_dict(backbone) if isinstance(backbone, Mapping) else None)

    def replace_options(self, **changes: Any) -> ModelConfig:
        """A copy with some options changed (e.g. ``num_classes`` for a new head)."""
        return ModelConfig(self.name, self.task, {**self.options, **changes}, self.backbone)
