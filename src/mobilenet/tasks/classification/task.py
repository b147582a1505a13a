"""Image classification as a task of the shared trainer: cross-entropy, top-1/top-5, confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from mobilenet.data.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing, eval_transform
from mobilenet.tasks.base import Datasets, EvalResult, PredictOptions, Transform
from mobilenet.tasks.classification import data as data_module
from mobilenet.tasks.classification.metrics import classification_result
from mobilenet.tasks.classification.transforms import train_transform


class ClassificationTask:
    """Labels are class indices; the model returns logits (see ``mobilenet.tasks.base.Task``)."""

    name = "classification"
    primary_metric = "top1"
    metric_names = ("loss", "top1", "top5")
    train_stats = ("acc",)
    stack_targets = True

    def build_datasets(self, config: Any, run_dir: Path | None) -> Datasets:
        return data_module.build_datasets(config, run_dir)

    def eval_dataset(self, data: str | None, class_names: list[str], checkpoint: dict[str, Any] | None) -> Any:
        return data_module.eval_dataset(data, class_names, checkpoint)

    def preprocessing(self, model: nn.Module, config: Any) -> Preprocessing:
        """The pretrained weights' normalisation (e.g. Keras' [-1, 1]) when fine-tuning, ImageNet's
        otherwise; the run's resolution and center-crop fraction."""
        pretrained = getattr(model, "preprocessing", None)
        mean, std = (pretrained.mean, pretrained.std) if pretrained else (IMAGENET_MEAN, IMAGENET_STD)
        return Preprocessing(config.resolution, config.crop_pct, mean=mean, std=std)

    def train_transform(self, pre: Preprocessing, config: Any) -> Transform:
        return train_transform(pre, config.crop_scale, config.hflip, config.auto_augment, config.random_erase)

    def eval_transform(self, pre: Preprocessing) -> Transform:
        return eval_transform(pre)

    def targets_to(self, targets: torch.Tensor, device: torch.device) -> torch.Tensor:
        return targets.to(device, non_blocking=True)

    def loss(self, model: nn.Module, outputs: torch.Tensor, targets: torch.Tensor,
             config: Any) -> tuple[torch.Tensor, dict[str, float]]:
        loss = nn.functional.cross_entropy(outputs, targets, label_smoothing=config.label_smoothing)
        return loss, {"acc": float((outputs.detach().argmax(1) == targets).sum())}

    @torch.no_grad()
    def evaluate_shard(self, model: nn.Module, batches: Any, device: torch.device,
                       prepare: Callable[[torch.Tensor], torch.Tensor], autocast: Callable[[], Any]) -> Any:
        logits, targets = [], []
        for images, labels in batches:
            with autocast():
                logits.append(model(prepare(images)).float().cpu())
            targets.append(labels.cpu())
        return (torch.cat(logits) if logits else torch.empty(0, 0), torch.cat(targets) if targets
                else torch.empty(0, dtype=torch.long))

    def summarize(self, states: Sequence[Any], class_names: Sequence[str]) -> EvalResult:
        logits = torch.cat([s[0] for s in states if len(s[1])]) if any(len(s[1]) for s in states) \
            else torch.empty(0, len(class_names))
        targets = torch.cat([s[1] for s in states])
        return classification_result(logits, targets, class_names)

    def plots(self, result: EvalResult, folder: Path) -> list[Path]:
        from mobilenet.tasks.classification.plots import plot_confusion

        path = folder / "confusion.png"
        plot_confusion(result.details["confusion"], result.class_names, path)
        return [path]

    def predict(self, outputs: Sequence[torch.Tensor], class_names: Sequence[str],
                options: PredictOptions) -> list[dict[str, Any]]:
        probabilities = outputs[0].float().softmax(-1)
        top = min(options.top, probabilities.shape[1])
        values, indices = probabilities.topk(top, dim=1)
        return [{"top": [{"index": int(i), "class": class_names[int(i)] if int(i) < len(class_names) else str(int(i)),
                          "probability": round(float(v), 6)} for v, i in zip(row_values, row_indices)]}
                for row_values, row_indices in zip(values, indices)]

    def describe(self, result: dict[str, Any]) -> list[str]:
        return [f"  {e['probability']:7.3f}  {e['index']:4d}  {e['class']}" for e in result["top"]]

    def draw(self, image: Any, result: dict[str, Any], path: Path) -> None:
        """Nothing to draw for a class label."""
