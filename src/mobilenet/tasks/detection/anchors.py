"""Default boxes (anchors) of an SSD head, normalised ``(cx, cy, w, h)`` (SSD paper §2.2, eq. 4).

Order: map by map, then row-major locations, then the boxes of a location, which is both TF
Object Detection's (``MultipleGridAnchorGenerator``) and torchvision's (``DefaultBoxGenerator``)
order and the order of the predictors' output channels. A box of map k with ``g_h x g_w`` cells is
centred on cell (i, j) at ``((j + 0.5) / g_w, (i + 0.5) / g_h)``.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from mobilenet.tasks.detection.specs import AnchorSpec


def scales(spec: AnchorSpec, maps: int) -> list[float]:
    """``s_k = min + (max - min) k / (m - 1)`` for k < m, then 1.0 (for the interpolated box of the last map)."""
    if maps == 1:
        return [spec.min_scale, 1.0]
    step = (spec.max_scale - spec.min_scale) / (maps - 1)
    return [spec.min_scale + step * k for k in range(maps)] + [1.0]


def box_shapes(spec: AnchorSpec, maps: int) -> list[list[tuple[float, float]]]:
    """Per map, the ``(w, h)`` of each box at a location (before any aspect correction)."""
    s = scales(spec, maps)
    shapes: list[list[tuple[float, float]]] = []
    for k in range(maps):
        interpolated = math.sqrt(s[k] * s[k + 1])
        if spec.kind == "torchvision":
            pairs = [(s[k], s[k]), (interpolated, interpolated)]
            for ratio in spec.aspect_ratios:
                w, h = s[k] * math.sqrt(ratio), s[k] / math.sqrt(ratio)
                pairs += [(w, h), (h, w)]
            shapes.append([(min(max(w, 0.0), 1.0), min(max(h, 0.0), 1.0)) for w, h in pairs])
            continue
        if k == 0 and spec.reduce_lowest:  # TF: reduce_boxes_in_lowest_layer
            specs = [(0.1, 1.0), (s[k], 2.0), (s[k], 0.5)]
        else:
            specs = [(s[k], ratio) for ratio in spec.aspect_ratios] + [(interpolated, 1.0)]
        shapes.append([(scale * math.sqrt(ratio), scale / math.sqrt(ratio)) for scale, ratio in specs])
    return shapes


def anchor_boxes(spec: AnchorSpec, grid_sizes: Sequence[tuple[int, int]],
                 image_size: tuple[int, int] | None = None) -> torch.Tensor:
    """All anchors of maps with ``grid_sizes`` ((h, w) each) as an ``(N, 4)`` float tensor.

    ``image_size`` (h, w): TF's generator keeps its boxes square in pixels on non-square inputs
    (base size scaled by ``min(h, w) / h`` and ``/ w``); torchvision's does not.
    """
    aspect_h = aspect_w = 1.0
    if image_size is not None and spec.kind == "ssd":
        shortest = min(image_size)
        aspect_h, aspect_w = shortest / image_size[0], shortest / image_size[1]
    boxes = []
    for (rows, cols), shapes in zip(grid_sizes, box_shapes(spec, len(grid_sizes))):
        y = (torch.arange(rows, dtype=torch.float64) + 0.5) / rows
        x = (torch.arange(cols, dtype=torch.float64) + 0.5) / cols
        cy, cx = torch.meshgrid(y, x, indexing="ij")
        wh = torch.tensor([(w * aspect_w, h * aspect_h) for w, h in shapes], dtype=torch.float64)
        centres = torch.stack([cx, cy], -1).reshape(-1, 1, 2).expand(-1, len(shapes), 2)
        boxes.append(torch.cat([centres, wh.expand(rows * cols, -1, -1)], -1).reshape(-1, 4))
    return torch.cat(boxes).float()
