"""Object detection as a task of the shared trainer: SSD loss, COCO mAP, PR curves, drawn boxes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from mobilenet.data.preprocessing import SIGNED_UNIT, Preprocessing
from mobilenet.tasks.base import Datasets, EvalResult, PredictOptions, Transform
from mobilenet.tasks.detection import data as data_module
from mobilenet.tasks.detection.loss import LossSettings, detection_loss
from mobilenet.tasks.detection.metrics import ImageResult, detection_result
from mobilenet.tasks.detection.transforms import EvalTransform, TrainTransform


def loss_settings(model: nn.Module, config: Any) -> LossSettings:
    """The loss of ``model`` (its score function and box coder) with the run's detection settings."""
    return LossSettings(score_fn=model.score_fn, match_iou=config.match_iou, neg_pos_ratio=config.neg_pos_ratio,
                        focal=config.focal_loss, box_weight=config.box_loss_weight,
                        box_weights=tuple(model.spec.box_weights))


class DetectionTask:
    """Targets are per-image dicts of normalised boxes and labels; the model is an SSD (``model.py``)."""

    name = "detection"
    primary_metric = "map"
    metric_names = ("loss", "map", "ap50", "ap75")
    train_stats = ("box_loss", "class_loss", "positives")
    stack_targets = False

    def build_datasets(self, config: Any, run_dir: Path | None) -> Datasets:
        return data_module.build_datasets(config, run_dir)

    def eval_dataset(self, data: str | None, class_names: list[str], checkpoint: dict[str, Any] | None) -> Any:
        return data_module.eval_dataset(data, class_names, checkpoint)

    def preprocessing(self, model: nn.Module, config: Any) -> Preprocessing:
        """The pretrained weights' preprocessing (normalisation, TF resizing) at the run's resolution;
        the whole image squashed to the input, pixels to [-1, 1] otherwise."""
        pretrained = getattr(model, "preprocessing", None)
        if pretrained:
            return Preprocessing.from_dict(pretrained).at_resolution(config.resolution)
        return Preprocessing(config.resolution, crop_pct=1.0, resize_mode="squash", mean=SIGNED_UNIT, std=SIGNED_UNIT)

    def train_transform(self, pre: Preprocessing, config: Any) -> Transform:
        return TrainTransform(pre, config.hflip, config.zoom_out, config.iou_crop, config.photometric)

    def eval_transform(self, pre: Preprocessing) -> Transform:
        return EvalTransform(pre)

    def targets_to(self, targets: list[dict[str, torch.Tensor]], device: torch.device) -> list[dict[str, torch.Tensor]]:
        return [{k: v.to(device, non_blocking=True) for k, v in t.items()} for t in targets]

    def loss(self, model: nn.Module, outputs: Any, targets: Any, config: Any) -> tuple[torch.Tensor, dict[str, float]]:
        codes, logits, anchors = outputs
        return detection_loss(codes, logits, anchors, targets, loss_settings(model, config))

    @torch.no_grad()
    def evaluate_shard(self, model: nn.Module, batches: Any, device: torch.device,
                       prepare: Callable[[torch.Tensor], torch.Tensor], autocast: Callable[[], Any]) -> Any:
        """Detections and the loss of our detectors; detections only of an exported file (its loss is NaN)."""
        results: list[ImageResult] = []
        ours = hasattr(model, "head_outputs")
        settings = LossSettings(score_fn=model.score_fn, box_weights=tuple(model.spec.box_weights)) if ours else None
        for images, targets in batches:
            loss = float("nan")
            if ours:
                with autocast():
                    codes, logits, anchors = model.head_outputs(prepare(images))
                boxes, scores, classes, count = model.detect(codes.float(), logits.float(), anchors)
                loss = float(detection_loss(codes.float(), logits.float(), anchors, targets, settings)[0])
            else:
                outputs = model(prepare(images))
                if not isinstance(outputs, (tuple, list)) or len(outputs) != 4:
                    raise ValueError("this detector file has no post-processing inside (boxes, scores, classes, "
                                     "num_detections); export it with --postprocess to evaluate it")
                boxes, scores, classes, count = outputs
            for i, target in enumerate(targets):   # the batch's loss on each image: a mean over images
                results.append(image_result(target, boxes[i], scores[i], classes[i], int(count[i]), loss))
        return results

    def summarize(self, states: Sequence[Any], class_names: Sequence[str]) -> EvalResult:
        return detection_result([image for state in states for image in state], class_names)

    def plots(self, result: EvalResult, folder: Path) -> list[Path]:
        from mobilenet.tasks.detection.plots import plot_per_class_ap, plot_pr_curves

        curves, per_class = folder / "pr_curves.png", folder / "per_class_ap.png"
        plot_pr_curves(result.details["pr_curves"], result.details["recall"], result.per_class, curves)
        plot_per_class_ap(result.per_class, per_class)
        return [curves, per_class]

    def predict(self, outputs: Sequence[torch.Tensor], class_names: Sequence[str],
                options: PredictOptions) -> list[dict[str, Any]]:
        """Detections with at least ``options.threshold``; boxes normalised, and in pixels when the
        images' sizes are given."""
        boxes, scores, classes, count = (torch.as_tensor(o) for o in outputs[:4])
        results = []
        for i in range(len(boxes)):
            size = options.image_sizes[i] if i < len(options.image_sizes) else None
            found = []
            for j in range(int(count[i])):
                if float(scores[i, j]) < options.threshold:
                    continue
                index = int(classes[i, j])
                box = [round(float(v), 6) for v in boxes[i, j]]
                entry: dict[str, Any] = {"index": index, "class": class_names[index] if index < len(class_names)
                                         else str(index), "score": round(float(scores[i, j]), 6), "box_normalized": box}
                if size is not None:
                    width, height = size
                    entry["box"] = [round(v * s, 2) for v, s in zip(box, (width, height, width, height))]
                found.append(entry)
            results.append({"detections": found})
        return results

    def describe(self, result: dict[str, Any]) -> list[str]:
        if not result["detections"]:
            return ["  no detections above the threshold"]
        key = "box" if "box" in result["detections"][0] else "box_normalized"
        return [f"  {d['score']:6.3f}  {d['class']:<16} " + " ".join(f"{v:8.1f}" if key == "box" else f"{v:6.3f}"
                                                                     for v in d[key])
                for d in result["detections"]]

    def draw(self, image: Any, result: dict[str, Any], path: Path) -> None:
        """The detections as labelled boxes on the image (``torchvision.utils.draw_bounding_boxes``)."""
        from torchvision.transforms.v2.functional import pil_to_tensor, to_pil_image
        from torchvision.utils import draw_bounding_boxes

        width, height = image.size
        scale = torch.tensor([width, height, width, height], dtype=torch.float32)
        detections = result["detections"]
        boxes = torch.tensor([d["box_normalized"] for d in detections], dtype=torch.float32).reshape(-1, 4) * scale
        labels = [f"{d['class']} {d['score']:.2f}" for d in detections]
        palette = ["red", "lime", "blue", "yellow", "magenta", "cyan", "orange", "white"]
        colors = [palette[d["index"] % len(palette)] for d in detections]
        drawn = draw_bounding_boxes(pil_to_tensor(image), boxes, labels, colors=colors or None,
                                    width=max(2, round(max(width, height) / 300)))
        to_pil_image(drawn).save(path)


def image_result(target: dict[str, torch.Tensor], boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor,
                 count: int, loss: float = 0.0) -> ImageResult:
    """One image's ground truth and detections in pixels of its original size (``target["size"]``)."""
    height, width = (int(v) for v in target["size"])
    scale = np.array([width, height, width, height], dtype=np.float64)
    return ImageResult(target["boxes"].cpu().double().numpy().reshape(-1, 4) * scale,
                       target["labels"].cpu().numpy(), boxes[:count].cpu().double().numpy() * scale,
                       scores[:count].cpu().numpy(), classes[:count].cpu().numpy(), loss)
