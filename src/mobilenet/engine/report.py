"""What a run leaves in its folder besides checkpoints: ``metrics.csv``, TensorBoard events and
``curves.png`` (loss and the primary metric per epoch); the task adds its own plots (e.g.
``confusion.png``). Written by rank 0 only.

The PNG plots need matplotlib (the ``plots`` extra); without it a run trains as usual, says so
once, and draws nothing.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any, Sequence

from mobilenet.extras import MissingExtra, available, pyplot


INTEGER_COLUMNS = ("epoch", "step")


class RunLog:
    """Appends one row per epoch to ``metrics.csv`` and TensorBoard (when installed)."""

    def __init__(self, folder: Path, columns: Sequence[str], enabled: bool = True) -> None:
        self.folder, self.enabled, self.columns = folder, enabled, tuple(columns)
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
            return [{k: (int(float(v)) if k in INTEGER_COLUMNS else float(v)) for k, v in row.items() if v != ""}
                    for row in csv.DictReader(handle)]

    def append(self, row: dict[str, float]) -> None:
        if not self.enabled:
            return
        # A resumed run may repeat an epoch that was interrupted after its row was written.
        rows = [r for r in self.rows() if int(r["epoch"]) < int(row["epoch"])] + [row]
        with self.csv_path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns, extrasaction="ignore")
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


def plot_curves(rows: Sequence[dict[str, float]], path: Path, primary: str, train_stat: str | None = None) -> None:
    """Loss (train and val) and the primary validation metric per epoch, as a PNG; nothing without
    matplotlib (``load_plotting`` says so)."""
    if not available("matplotlib"):
        return
    plt = pyplot()
    epochs = [r["epoch"] for r in rows]
    fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [r["train_loss"] for r in rows], label="train")
    ax_loss.plot(epochs, [r["val_loss"] for r in rows], label="val")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    if train_stat:
        ax_score.plot(epochs, [r[f"train_{train_stat}"] for r in rows], label=f"train {train_stat}")
    ax_score.plot(epochs, [r[f"val_{primary}"] for r in rows], label=f"val {primary}")
    ax_score.set(xlabel="epoch", ylabel=primary, title=primary, ylim=(0, 1))
    for ax in (ax_loss, ax_score):
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
