"""Helpers of the export tests: models with O(1) outputs, small image folders."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image
from torch import nn

import mobilenet
from mobilenet.layers.layer_scale import LayerScale
from mobilenet.models.registry import MODELS, register
from mobilenet.specs.rows import Bottleneck, Conv
from mobilenet.specs.v3 import MOBILENET_V3_SMALL


def perturbed(name: str, seed: int = 0, **options) -> mobilenet.MobileNet:
    """A model with non-trivial BN statistics and a classifier whose logits are O(1).

    Fresh models have BN mean 0 / var 1 and tiny logits, which would let a wrong fold or a wrong
    export pass a 1e-4 check.
    """
    torch.manual_seed(seed)
    model = mobilenet.create_model(name, **options)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.3, 0.3)
        elif isinstance(module, LayerScale):  # V4 Hybrid starts at 1e-5: its branches would not count
            module.gamma.data.uniform_(0.05, 0.2)
    if isinstance(model.classifier, nn.Linear):
        nn.init.normal_(model.classifier.weight, 0, 0.3)
    return model.eval()


def write_image_folder(root: Path, classes: tuple[str, ...] = ("ants", "bees"), per_class: int = 4,
                       size: tuple[int, int] = (80, 64)) -> Path:
    """A small class-per-folder tree of smooth random RGB images."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            base = rng.uniform(0, 255, (4, 4, 3))
            pixels = np.kron(base, np.ones((size[1] // 4, size[0] // 4, 1))) * (0.6 + 0.4 * c)
            Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(root / name / f"{i}.jpg")
    return root


# --- a tiny registered V3 for the LiteRT and ExecuTorch tests: lowering costs time per op, so they
# export a 3-block model (hard-swish, squeeze-excite, a residual add) at 32x32 --------------------
TINY = "edge_test_tiny_v3"
TINY_SPEC = replace(
    MOBILENET_V3_SMALL, name=TINY,
    body=(Bottleneck(kernel=3, expanded=16, out=16, se=True, act="relu", stride=2),
          Bottleneck(kernel=3, expanded=32, out=16, se=True, act="hswish", stride=1),
          Bottleneck(kernel=5, expanded=48, out=24, se=False, act="hswish", stride=2)),
    last_conv=Conv(out=48, kernel=1, act="hswish"), head_channels=64, resolution=32)


def registered_tiny() -> Iterator[str]:
    """Register ``TINY`` for the duration of a fixture, so commands can name it; removed afterwards."""
    register(TINY, TINY_SPEC, 1.0)
    try:
        yield TINY
    finally:
        MODELS.pop(TINY, None)


def tiny_source(name: str, preprocessing, class_names: list[str]):
    """The tiny model as a two-class ``ModelSource`` with O(1) logits (a 1e-4 check then means something)."""
    from mobilenet.sources import ModelSource

    torch.manual_seed(0)
    model = perturbed(name, num_classes=len(class_names))
    nn.init.normal_(model.head_conv.weight, 0, 0.5)
    return ModelSource(model, "tiny", preprocessing, class_names, "weights")


def export_through_cli(source, folder: Path, target: str, suffix: str, *options: str) -> list[dict]:
    """``source`` saved as our ``.safetensors`` and exported by ``mobilenet export --format target``
    into ``folder/tiny<suffix>`` with ``options``; the report's rows (one per file written)."""
    import contextlib
    import io
    import json

    from mobilenet.cli.main import main
    from mobilenet.weights.format import save

    weights = save(source.model, folder / "tiny.safetensors", source.preprocessing, source.class_names)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["export", str(weights), "--format", target, "-o", str(folder / f"tiny{suffix}"), *options,
                     "--report-format", "json"])
    assert code == 0, f"mobilenet export --format {target} failed"
    return json.loads(printed.getvalue())
