"""Tiny, fast training set-ups for the engine tests (real data: the embedded digits)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mobilenet.engine.config import TrainConfig, resolve_config

# Width 0.35 at 32x32 trains at hundreds of images/s on one CPU core; 192 training digits make
# an epoch of 6 steps.
TINY: dict[str, Any] = dict(
    data="digits", model="mobilenet_v3_small", width_mult=0.35, resolution=32, max_images=192,
    epochs=2, batch_size=32, lr=0.05, warmup_epochs=0.5, bn_momentum=0.1, crop_scale=0.5, hflip=0.5,
    crop_pct=1.0, workers=0, progress=False, seed=3,
)


def tiny_config(tmp_path: Path, name: str, **overrides: Any) -> TrainConfig:
    return resolve_config(None, **{**TINY, "output": str(tmp_path), "name": name, **overrides})


def weights_of(run_dir: Path) -> dict[str, torch.Tensor]:
    """The raw (non-EMA) weights and buffers of a run's last checkpoint."""
    return torch.load(run_dir / "last.pt", map_location="cpu", weights_only=False)["resume"]["model"]


def max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) if a[k].numel() else 0.0 for k in a)
