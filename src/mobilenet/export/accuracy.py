"""Top-1 accuracy of a PyTorch model or an exported ONNX file on a class-per-folder validation set.

Both go through the same images, preprocessing and class mapping, so float vs INT8 differences
are the model's, not the pipeline's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from mobilenet.data.preprocessing import Preprocessing
from mobilenet.export.images import labelled_images, load_images


@dataclass
class Accuracy:
    top1: float
    correct: int
    count: int

    def __str__(self) -> str:
        return f"{100 * self.top1:.2f}% ({self.correct}/{self.count})"


def _targets_in_model_order(folder_classes: Sequence[str], model_classes: Sequence[str]) -> list[int]:
    if not model_classes:
        return list(range(len(folder_classes)))
    unknown = [c for c in folder_classes if c not in model_classes]
    if unknown:
        raise ValueError(f"validation classes {', '.join(unknown)} are not classes of the model "
                         f"({', '.join(model_classes)}); pass the folder the model was trained on")
    return [list(model_classes).index(c) for c in folder_classes]


def accuracy(predict: Callable[[np.ndarray], np.ndarray], folder: str | Path, pre: Preprocessing,
             class_names: Sequence[str] = (), batch_size: int = 16) -> Accuracy:
    """Top-1 of ``predict`` (a batch of images -> logits) on ``folder/<class>/<image>``."""
    images = labelled_images(folder)
    mapping = _targets_in_model_order(images.classes, class_names)
    correct = 0
    for start in range(0, len(images), batch_size):
        chunk = images.samples[start:start + batch_size]
        logits = predict(load_images([Path(p) for p, _ in chunk], pre).numpy())
        predicted = logits.argmax(1)
        correct += int(sum(int(p) == mapping[t] for p, (_, t) in zip(predicted, chunk)))
    return Accuracy(correct / len(images), correct, len(images))


def torch_accuracy(model: torch.nn.Module, folder: str | Path, pre: Preprocessing,
                   class_names: Sequence[str] = ()) -> Accuracy:
    model.eval()

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(x)).numpy()

    return accuracy(predict, folder, pre, class_names)


def onnx_accuracy(path: str | Path, folder: str | Path, threads: int | None = None) -> Accuracy:
    """Accuracy of an exported file, with the preprocessing and class names stored in it."""
    from mobilenet.export.onnx import make_session, read_metadata  # onnxruntime only when needed

    session = make_session(path, threads)
    meta = read_metadata(path)
    name = session.get_inputs()[0].name
    fixed = session.get_inputs()[0].shape[0]
    fixed = fixed if isinstance(fixed, int) else None

    def predict(x: np.ndarray) -> np.ndarray:
        if fixed is None:
            return session.run(None, {name: x})[0]
        # a fixed-batch file: run in slices of its batch, padding the last one
        out = []
        for start in range(0, len(x), fixed):
            part = x[start:start + fixed]
            padded = np.concatenate([part, np.repeat(part[-1:], fixed - len(part), 0)]) if len(part) < fixed else part
            out.append(session.run(None, {name: padded})[0][:len(part)])
        return np.concatenate(out)

    return accuracy(predict, folder, meta["preprocessing"], meta.get("class_names") or ())
