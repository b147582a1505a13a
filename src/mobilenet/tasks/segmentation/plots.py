"""Segmentation plots: the per-class IoU of a validation result as a bar chart."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from mobilenet.extras import pyplot
from mobilenet.files import atomic_path


def plot_iou(ious: Sequence[float | None], class_names: Sequence[str], miou: float, path: Path) -> None:
    """One bar per class (classes that occur neither in the labels nor in the predictions are marked
    "absent"), the mIoU as a line (needs the ``plots`` extra)."""
    plt = pyplot("drawing the per-class IoU")
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(min(4 + 0.45 * n, 20), 4.5))
    values = [0.0 if v is None else v for v in ious]
    bars = ax.bar(range(n), values, color="tab:blue")
    for bar, value in zip(bars, ious):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 0.01, "absent" if value is None else
                f"{value:.2f}", ha="center", va="bottom", fontsize=7, rotation=90 if n > 12 else 0)
    ax.axhline(miou, color="tab:red", linestyle="--", label=f"mIoU {miou:.3f}")
    ax.set(xticks=range(n), ylim=(0, 1.1), ylabel="IoU", title="per-class IoU")
    ax.set_xticklabels(class_names, rotation=60, ha="right")
    ax.legend(loc="upper right")
    fig.tight_layout()
    with atomic_path(path) as temp:
        fig.savefig(temp, dpi=100, format="png")
    plt.close(fig)
