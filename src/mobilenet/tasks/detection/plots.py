"""Detection plots: precision-recall curves (IoU 0.5) and per-class AP of a validation result."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from mobilenet.extras import pyplot


def plot_pr_curves(curves: Mapping[str, Sequence[float]], recall: Sequence[float], per_class: Mapping[str, float],
                   path: Path) -> None:
    """One precision-recall curve per class (COCO's interpolated precision at IoU 0.5), AP in the legend."""
    plt = pyplot("drawing precision-recall curves")
    fig, ax = plt.subplots(figsize=(6, 5))
    for name, precision in curves.items():
        ap50 = sum(precision) / max(len(precision), 1)
        ax.plot(recall, precision, label=f"{name}  AP50 {ap50:.3f}  AP {per_class.get(name, 0.0):.3f}")
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision",
           title="precision-recall at IoU 0.5 (COCO, 101 points)")
    ax.grid(alpha=0.3)
    if curves:
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_per_class_ap(per_class: Mapping[str, float], path: Path) -> None:
    """COCO AP@[.5:.95] per class as horizontal bars."""
    plt = pyplot("drawing per-class AP")
    names = list(per_class)
    fig, ax = plt.subplots(figsize=(6, 1 + 0.35 * len(names)))
    ax.barh(range(len(names)), [per_class[n] for n in names], color="tab:blue")
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names)
    ax.invert_yaxis()
    ax.set(xlim=(0, 1), xlabel="AP@[.5:.95]", title="per-class AP")
    for i, name in enumerate(names):
        ax.text(min(per_class[name] + 0.01, 0.9), i, f"{per_class[name]:.3f}", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
