"""SSD's box coding: offsets of a box from its anchor (SSD paper eq. 2, Faster R-CNN's parametrisation).

``(dx, dy, dw, dh) = (wx (cx - cx_a) / w_a, wy (cy - cy_a) / h_a, ww log(w / w_a), wh log(h / h_a))``
with the weights ``(10, 10, 5, 5)`` of TF Object Detection and torchvision (TF orders the codes y, x,
h, w; the TFLite importer permutes them into this order). Boxes are normalised ``(x1, y1, x2, y2)``.
"""

from __future__ import annotations

import math

import torch

# torchvision's clamp of dw, dh before exp: boxes at most 1000/16 times their anchor.
MAX_LOG_SCALE = math.log(1000.0 / 16)


def encode(boxes: torch.Tensor, anchors: torch.Tensor, weights: tuple[float, float, float, float]) -> torch.Tensor:
    """Codes of ``boxes`` ``(..., 4)`` xyxy relative to ``anchors`` ``(..., 4)`` cxcywh."""
    wx, wy, ww, wh = weights
    width = (boxes[..., 2] - boxes[..., 0]).clamp_min(1e-6)
    height = (boxes[..., 3] - boxes[..., 1]).clamp_min(1e-6)
    cx = boxes[..., 0] + 0.5 * width
    cy = boxes[..., 1] + 0.5 * height
    return torch.stack([wx * (cx - anchors[..., 0]) / anchors[..., 2], wy * (cy - anchors[..., 1]) / anchors[..., 3],
                        ww * torch.log(width / anchors[..., 2]), wh * torch.log(height / anchors[..., 3])], -1)


def decode(codes: torch.Tensor, anchors: torch.Tensor, weights: tuple[float, float, float, float]) -> torch.Tensor:
    """Boxes xyxy from ``codes`` ``(..., N, 4)`` and ``anchors`` ``(N, 4)`` cxcywh (torchvision's arithmetic)."""
    wx, wy, ww, wh = weights
    cx = codes[..., 0] / wx * anchors[..., 2] + anchors[..., 0]
    cy = codes[..., 1] / wy * anchors[..., 3] + anchors[..., 1]
    w = torch.exp((codes[..., 2] / ww).clamp(max=MAX_LOG_SCALE)) * anchors[..., 2]
    h = torch.exp((codes[..., 3] / wh).clamp(max=MAX_LOG_SCALE)) * anchors[..., 3]
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], -1)
