"""What a run leaves in its folder besides checkpoints: ``metrics.csv``, TensorBoard events,
``curves.png`` (loss and accuracy per epoch) and ``confusion.png``. Written by rank 0 only.

The PNG plots need matplotlib (the ``plots`` extra); without it a run trains as usual, says so
once, and draws nothing.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any, Sequence

from mobilenet.extras import MissingExtra, available, pyplot


class RunLog:
    """Appends one row per epoch to ``metrics.csv`` and TensorBoard (when installed)."""

    COLUMNS = ("epoch", "step", "lr", "train_loss", "train_acc", "val_loss", "val_top1", "val_top5",
               "images_per_s", "epoch_s")

    def __init__(self, folder: Path, enabled: bool = True) -> None:
        self.folder, self.enabled = folder, enabled
        self.csv_path = folder / "metrics.csv"
        self.writer: Any = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(folder / "tensorboard"))
            except ImportError:  # tensorboard is optional
                self.writer = None

    def rows(self) -> list[dict[str, float]]:
        if not self.csv_path.is_file():
            return []
        with self.csv_path.open() as handle:
            return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]

    def append(self, row: dict[str, float]) -> None:
        if not self.enabled:
            return
        # A resumed run may repeat an epoch that was interrupted after its row was written.
        rows = [r for r in self.rows() if int(r["epoch"]) < int(row["epoch"])] + [row]
        with self.csv_path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        if self.writer is not None:
            for key, value in row.items():
                if key not in ("epoch", "step"):
                    self.writer.add_scalar(key, value, int(row["epoch"]))
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def load_plotting() -> bool:
    """Import matplotlib (Agg) now, before training starts; False, with one note, when it is missing.

    Imported lazily at the first epoch's plots, a Ctrl-C landing inside matplotlib's import is
    turned into a ``RuntimeError`` by Python's class creation, and the run would die with a
    traceback instead of saving ``last.pt``.
    """
    try:
        pyplot()
    except MissingExtra as missing:
        print(f"note: no curves.png or confusion.png for this run: {missing}", file=sys.stderr, flush=True)
        return False
    return True


def plot_curves(rows: Sequence[dict[str, float]], path: Path) -> None:
    """Loss and accuracy per epoch as a PNG; nothing without matplotlib (``load_plotting`` says so)."""
    if not available("matplotlib"):
        return
    plt = pyplot()
    epochs = [r["epoch"] for r in rows]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [r["train_loss"] for r in rows], label="train")
    ax_loss.plot(epochs, [r["val_loss"] for r in rows], label="val")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.plot(epochs, [r["train_acc"] for r in rows], label="train")
    ax_acc.plot(epochs, [r["val_top1"] for r in rows], label="val top-1")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1))
    for ax in (ax_loss, ax_acc):
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion(confusion: Sequence[Sequence[int]], class_names: Sequence[str], path: Path,
                   required: bool = False) -> None:
    """The confusion matrix as a PNG. Without matplotlib: ``MissingExtra`` if ``required``, else nothing."""
    if not required and not available("matplotlib"):
        return
    plt = pyplot("drawing the confusion matrix")
    n = len(class_names)
    size = min(4 + 0.4 * n, 20)
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(confusion, cmap="Blues")
    ax.set(xticks=range(n), yticks=range(n), xlabel="predicted", ylabel="true", title="confusion matrix")
    if n <= 30:
        ax.set_xticklabels(class_names, rotation=90)
        ax.set_yticklabels(class_names)
        peak = max(max(row) for row in confusion) or 1
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(confusion[i][j]), ha="center", va="center", fontsize=8,
                        color="white" if confusion[i][j] > peak / 2 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
