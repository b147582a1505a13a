"""Semantic segmentation as a task of the shared trainer: per-pixel cross-entropy with ignore, mIoU."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from mobilenet.data.preprocessing import Preprocessing
from mobilenet.tasks.base import Datasets, EvalResult, PredictOptions, Transform
from mobilenet.tasks.segmentation import data as data_module
from mobilenet.tasks.segmentation.loss import IGNORE_INDEX, segmentation_loss
from mobilenet.tasks.segmentation.metrics import confusion, segmentation_result
from mobilenet.tasks.segmentation.transforms import EvalTransform, train_transform


class SegmentationTask:
    """Targets are ``(H, W)`` class-index masks (255 ignored); the model returns per-pixel logits
    (see ``mobilenet.tasks.base.Task``)."""

    name = "segmentation"
    primary_metric = "miou"
    metric_names = ("loss", "miou", "pixel_acc")
    train_stats = ("pixel_acc",)
    stack_targets = True

    def build_datasets(self, config: Any, run_dir: Path | None) -> Datasets:
        return data_module.build_datasets(config, run_dir)

    def eval_dataset(self, data: str | None, class_names: list[str], checkpoint: dict[str, Any] | None) -> Any:
        return data_module.eval_dataset(data, class_names, checkpoint)

    def preprocessing(self, model: nn.Module, config: Any) -> Preprocessing:
        """The whole image squashed to the training size; the pretrained weights' normalisation and
        resizing (TF's for TFLite imports) when fine-tuning, ImageNet's otherwise."""
        pretrained = getattr(model, "preprocessing", None)
        base = Preprocessing.from_dict(pretrained) if pretrained else Preprocessing()  # ImageNet's by default
        return Preprocessing(config.resolution, 1.0, "squash", mean=base.mean, std=base.std, antialias=base.antialias)

    def train_transform(self, pre: Preprocessing, config: Any) -> Transform:
        return train_transform(pre, config.scale_min, config.scale_max, config.hflip, config.color_jitter)

    def eval_transform(self, pre: Preprocessing) -> Transform:
        return EvalTransform(pre)

    def targets_to(self, targets: torch.Tensor, device: torch.device) -> torch.Tensor:
        return targets.to(device, non_blocking=True)

    def loss(self, model: nn.Module, outputs: Any, targets: torch.Tensor,
             config: Any) -> tuple[torch.Tensor, dict[str, float]]:
        return segmentation_loss(outputs, targets, config.aux_loss, config.label_smoothing)

    @torch.no_grad()
    def evaluate_shard(self, model: nn.Module, batches: Any, device: torch.device,
                       prepare: Callable[[torch.Tensor], torch.Tensor], autocast: Callable[[], Any]) -> Any:
        matrix, loss_sum, pixels, images = None, 0.0, 0, 0
        for batch, targets in batches:
            with autocast():
                outputs = model(prepare(batch))
            logits = (outputs[0] if isinstance(outputs, (tuple, list)) else outputs).float()
            if logits.dim() == 4:
                predicted, classes = logits.argmax(1), logits.shape[1]
                loss_sum += float(nn.functional.cross_entropy(logits, targets, ignore_index=IGNORE_INDEX,
                                                              reduction="sum"))
                pixels += int((targets != IGNORE_INDEX).sum())
            else:  # an exported file with the arg-max inside gives the labels (no loss)
                predicted, classes = logits.long(), IGNORE_INDEX
            part = confusion(predicted.cpu(), targets.cpu(), classes)
            matrix = part if matrix is None else matrix + part
            images += len(batch)
        return matrix, loss_sum, pixels, images

    def summarize(self, states: Sequence[Any], class_names: Sequence[str]) -> EvalResult:
        n = len(class_names)
        matrix = torch.zeros(n, n, dtype=torch.long)
        for state in states:
            if state[0] is None:
                continue
            part = state[0]
            if int(part.sum()) != int(part[:n, :n].sum()):
                raise ValueError(f"the model predicts or the masks hold classes beyond the {n} class names")
            matrix += part[:n, :n]
        return segmentation_result(matrix, sum(s[1] for s in states), sum(s[2] for s in states),
                                   sum(s[3] for s in states), class_names)

    def plots(self, result: EvalResult, folder: Path) -> list[Path]:
        from mobilenet.tasks.segmentation.plots import plot_iou

        path = folder / "iou.png"
        plot_iou(result.details["iou"], result.class_names, result.metrics["miou"], path)
        return [path]

    def predict(self, outputs: Sequence[torch.Tensor], class_names: Sequence[str],
                options: PredictOptions) -> list[dict[str, Any]]:
        first = outputs[0]
        labels = first.argmax(1) if first.dim() == 4 else first.long()
        results = []
        for image_labels in labels.cpu().numpy().astype(np.int64):
            counts = np.bincount(image_labels.reshape(-1))
            shown = [{"index": int(i), "class": class_names[i] if i < len(class_names) else str(i),
                      "fraction": round(float(c) / image_labels.size, 4)} for i, c in enumerate(counts) if c]
            shown.sort(key=lambda e: -e["fraction"])
            results.append({"classes": shown, "_labels": image_labels})
        return results

    def describe(self, result: dict[str, Any]) -> list[str]:
        return [f"  {e['fraction'] * 100:6.2f}%  {e['index']:4d}  {e['class']}" for e in result["classes"]]

    def draw(self, image: Any, result: dict[str, Any], path: Path) -> None:
        """``path``: the photo with the classes' colours blended in; ``<stem>_mask.png``: the class of
        every pixel as a palette PNG (PASCAL VOC colours), both at the photo's size."""
        from mobilenet.tasks.segmentation.draw import write_mask_and_overlay

        write_mask_and_overlay(image, result["_labels"], path)
