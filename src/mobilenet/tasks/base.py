"""What a task gives the shared trainer, evaluator and commands (style principle 12).

A task (classification, detection, segmentation) owns what differs between them: its datasets
and the ``(image, target)`` transforms (torchvision ``transforms.v2`` with ``tv_tensors``), the
collate, the loss, the evaluation metrics and the one score that picks the best checkpoint, and
the plots of a run. The trainer (``mobilenet.engine``) keeps everything else (sampler, seeding,
exact resume, DDP, EMA, checkpoints, logs) and never branches on a task's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import torch
from torch import nn

from mobilenet.data.preprocessing import Preprocessing

Transform = Callable[[Any, Any], tuple[torch.Tensor, Any]]


@dataclass
class Datasets:
    """A run's data: train and validation sets (``load(i) -> (image, target) | None``,
    ``describe(i)``, ``len``), the class names, and the split record saved with the run."""

    train: Any
    val: Any
    class_names: list[str]
    split: dict[str, Any]


@dataclass
class EvalResult:
    """Validation metrics of one evaluation (``metrics`` includes ``loss`` and ``primary``)."""

    metrics: dict[str, float]
    primary: str
    """The metric that picks the best checkpoint (higher is better): top1, map, miou."""
    count: int
    class_names: list[str] = field(default_factory=list)
    per_class: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    """Task-specific results for reports and plots (confusion matrix, precision-recall curves)."""
    skipped: list[int] = field(default_factory=list)

    @property
    def score(self) -> float:
        return self.metrics[self.primary]

    def summary(self) -> dict[str, Any]:
        return {**self.metrics, "count": self.count}


class Task(Protocol):
    """The task-specific half of training and evaluation (see the module docstring)."""

    name: str
    primary_metric: str
    metric_names: tuple[str, ...]
    """Validation metrics in the order of the run log's columns (``loss`` first)."""
    train_stats: tuple[str, ...]
    """Per-sample training statistics the loss reports besides the loss (e.g. ``acc``)."""
    stack_targets: bool
    """Whether the collate stacks the targets into one tensor (else a list per image)."""

    def build_datasets(self, config: Any, run_dir: Path | None) -> Datasets: ...

    def eval_dataset(self, data: str | None, class_names: list[str], checkpoint: dict[str, Any] | None) -> Any:
        """Images (with targets in the model's class order) to evaluate on: ``data``, or the run's
        validation set when ``data`` is None and ``checkpoint`` is a training checkpoint."""
        ...

    def preprocessing(self, model: nn.Module, config: Any) -> Preprocessing: ...

    def train_transform(self, pre: Preprocessing, config: Any) -> Transform: ...

    def eval_transform(self, pre: Preprocessing) -> Transform: ...

    def targets_to(self, targets: Any, device: torch.device) -> Any: ...

    def loss(self, model: nn.Module, outputs: Any, targets: Any, config: Any) -> tuple[torch.Tensor, dict[str, float]]:
        """The batch's mean loss and the sums over its samples of ``train_stats``."""
        ...

    def evaluate_shard(self, model: nn.Module, batches: Any, device: torch.device,
                       prepare: Callable[[torch.Tensor], torch.Tensor], autocast: Callable[[], Any]) -> Any:
        """Run ``model`` (eval mode) over this process's validation batches; a picklable state."""
        ...

    def summarize(self, states: Sequence[Any], class_names: Sequence[str]) -> EvalResult:
        """The metrics of the states of every process."""
        ...

    def plots(self, result: EvalResult, folder: Path) -> list[Path]:
        """Task plots of a validation result (confusion matrix, PR curves, per-class IoU)."""
        ...

    def predict(self, outputs: Sequence[torch.Tensor], class_names: Sequence[str],
                options: PredictOptions) -> list[dict[str, Any]]:
        """JSON-able results per image from a batch's outputs, in ``output_names`` order: the eval-mode
        outputs of the PyTorch model, or those of its exported file (``export_form(postprocess=True)``)."""
        ...

    def describe(self, result: dict[str, Any]) -> list[str]:
        """Lines that show one image's result in a terminal."""
        ...

    def draw(self, image: Any, result: dict[str, Any], path: Path) -> None:
        """Write ``image`` (PIL, RGB) annotated with ``result`` (boxes, masks) to ``path``; classifiers
        have nothing to draw and may do nothing."""
        ...


@dataclass(frozen=True)
class PredictOptions:
    """What ``mobilenet predict`` lets a user choose."""

    top: int = 5
    """Classification: classes per image."""
    threshold: float = 0.3
    """Detection: the lowest score shown."""
    image_sizes: tuple[tuple[int, int], ...] = ()
    """(width, height) of each original image, for outputs in normalised coordinates (boxes)."""
