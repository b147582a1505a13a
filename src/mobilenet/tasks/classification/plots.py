"""Classification plots: the confusion matrix of a validation result."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from mobilenet.extras import pyplot


def plot_confusion(confusion: Sequence[Sequence[int]], class_names: Sequence[str], path: Path) -> None:
    """The confusion matrix (rows: true class, columns: predicted) as a PNG (needs the ``plots`` extra)."""
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
