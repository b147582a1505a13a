"""Anchors, box coding, matching, the loss and the post-processing, each against its definition."""

from __future__ import annotations

import math

import pytest
import torch
from torchvision.ops import batched_nms, box_convert, box_iou

from mobilenet.tasks.detection.anchors import anchor_boxes, box_shapes
from mobilenet.tasks.detection.box_coder import decode, encode
from mobilenet.tasks.detection.loss import LossSettings, detection_loss, match
from mobilenet.tasks.detection.postprocess import detect
from mobilenet.tasks.detection.specs import AnchorSpec, PostprocessSpec

WEIGHTS = (10.0, 10.0, 5.0, 5.0)
GRID = ((19, 19), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1))


def test_tf_anchor_generator_layers() -> None:
    """TF's ssd_anchor_generator: scales 0.2 ... 0.95, (0.1, 1), (0.2, 2), (0.2, 1/2) on the lowest map."""
    shapes = box_shapes(AnchorSpec("ssd"), 6)
    assert [len(s) for s in shapes] == [3, 6, 6, 6, 6, 6]
    w, h = shapes[0][0]
    assert (w, h) == pytest.approx((0.1, 0.1)) and shapes[0][1] == pytest.approx((0.2 * math.sqrt(2), 0.2 / math.sqrt(2)))
    assert shapes[1][0] == pytest.approx((0.35, 0.35))
    assert shapes[5][-1] == pytest.approx((math.sqrt(0.95), math.sqrt(0.95)))     # sqrt(s_5 * 1.0)
    anchors = anchor_boxes(AnchorSpec("ssd"), GRID)
    assert anchors.shape == (1917, 4)
    assert anchors[0].tolist() == pytest.approx([0.5 / 19, 0.5 / 19, 0.1, 0.1])
    assert anchors[3].tolist() == pytest.approx([1.5 / 19, 0.5 / 19, 0.1, 0.1])      # next column, same row
    wide = anchor_boxes(AnchorSpec("ssd"), [(2, 4)], image_size=(100, 200))
    assert wide[0, 2] * 200 == pytest.approx(wide[0, 3] * 100)                       # square in pixels


def test_torchvision_anchors_are_its_default_box_generator() -> None:
    generator = pytest.importorskip("torchvision.models.detection.anchor_utils").DefaultBoxGenerator(
        [[2, 3]] * 6, min_ratio=0.2, max_ratio=0.95)
    grid = ((20, 20), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1))
    theirs = generator._grid_default_boxes(grid, (320, 320))
    ours = anchor_boxes(AnchorSpec("torchvision", 0.2, 0.95, (2.0, 3.0)), grid)
    assert ours.shape == theirs.shape == (3234, 4)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)


def test_box_codes_round_trip_and_follow_the_weights() -> None:
    anchors = torch.tensor([[0.5, 0.5, 0.2, 0.4], [0.1, 0.2, 0.1, 0.1]])
    boxes = torch.tensor([[0.45, 0.35, 0.65, 0.75], [0.0, 0.1, 0.3, 0.2]])
    codes = encode(boxes, anchors, WEIGHTS)
    assert codes[0].tolist() == pytest.approx([10 * 0.05 / 0.2, 10 * 0.05 / 0.4, 0.0, 0.0], abs=1e-5)
    torch.testing.assert_close(decode(codes, anchors, WEIGHTS), boxes, atol=1e-6, rtol=0)


def test_matching_takes_threshold_matches_and_each_boxs_best_anchor() -> None:
    anchors = box_convert(torch.tensor([[0.25, 0.25, 0.5, 0.5], [0.75, 0.75, 0.5, 0.5], [0.3, 0.3, 0.5, 0.5],
                                        [0.9, 0.1, 0.1, 0.1]]), "cxcywh", "xyxy")
    boxes = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.85, 0.0, 1.0, 0.3]])
    matched = match(anchors, boxes, 0.5)
    # anchors 0 and 2 overlap box 0 (IoU 1 and 0.68); anchor 3 is box 1's best at IoU 0.22 only
    assert matched.tolist() == [0, -1, 0, 1]
    assert match(anchors, torch.zeros(0, 4), 0.5).tolist() == [-1] * 4


def test_hard_negative_mining_keeps_three_negatives_per_positive() -> None:
    torch.manual_seed(0)
    anchors = anchor_boxes(AnchorSpec("ssd"), ((4, 4), (2, 2)))
    codes = torch.zeros(1, len(anchors), 4, requires_grad=True)
    logits = torch.randn(1, len(anchors), 3, requires_grad=True)
    target = [{"boxes": torch.tensor([[0.0, 0.0, 0.24, 0.24]]), "labels": torch.tensor([1])}]
    loss, stats = detection_loss(codes, logits, anchors, target, LossSettings("softmax", neg_pos_ratio=3.0))
    loss.backward()
    positives = int(stats["positives"])
    touched = (logits.grad.abs().sum(-1) > 0).sum().item()
    assert positives >= 1 and touched == positives + max(3 * positives, 3)
    assert (codes.grad.abs().sum(-1) > 0).sum().item() == positives      # boxes of positives only
    loss_focal, _ = detection_loss(codes, logits, anchors, target, LossSettings("sigmoid", focal=True))
    assert torch.isfinite(loss_focal)


def test_an_image_without_boxes_still_teaches_background() -> None:
    anchors = anchor_boxes(AnchorSpec("ssd"), ((2, 2),))
    logits = torch.zeros(1, len(anchors), 2, requires_grad=True)
    empty = [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}]
    loss, stats = detection_loss(torch.zeros(1, len(anchors), 4), logits, anchors, empty, LossSettings())
    loss.backward()
    assert stats["positives"] == 0 and loss > 0 and (logits.grad.abs().sum(-1) > 0).sum() == 3


def random_head(count: int, classes: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    anchors = torch.cat([torch.rand(count, 2, generator=generator) * 0.8 + 0.1,
                         torch.rand(count, 2, generator=generator) * 0.3 + 0.05], 1)
    return (torch.randn(2, count, 4, generator=generator), torch.randn(2, count, classes + 1, generator=generator) * 2,
            anchors)


def test_per_class_nms_is_torchvisions_batched_nms() -> None:
    codes, logits, anchors = random_head(400, 3)
    spec = PostprocessSpec("per_class", 0.05, 0.5, 50, 100)
    boxes, scores, classes, count = detect(codes, logits, anchors, WEIGHTS, "softmax", spec)
    for i in range(2):
        decoded = decode(codes[i], anchors, WEIGHTS).clamp(0, 1)
        probabilities = logits[i].softmax(-1)[:, 1:]
        candidates = []
        for c in range(3):
            top, index = probabilities[:, c].topk(100)
            keep = top > 0.05
            candidates += [(float(s), c, int(j)) for s, j in zip(top[keep], index[keep])]
        s = torch.tensor([x[0] for x in candidates])
        c = torch.tensor([x[1] for x in candidates])
        j = torch.tensor([x[2] for x in candidates])
        kept = batched_nms(decoded[j], s, c, 0.5)[:50]
        n = int(count[i])
        assert n == len(kept)
        torch.testing.assert_close(scores[i, :n], s[kept])
        torch.testing.assert_close(boxes[i, :n], decoded[j[kept]])
        assert classes[i, :n].tolist() == c[kept].tolist()


def test_class_agnostic_nms_keeps_one_class_per_box_and_pads() -> None:
    codes, logits, anchors = random_head(300, 4, seed=1)
    spec = PostprocessSpec("class_agnostic", 0.3, 0.3, 200, 0)
    boxes, scores, classes, count = detect(codes, logits, anchors, WEIGHTS, "sigmoid", spec)
    n = int(count[0])
    assert 0 < n < 200 and (scores[0, n:] == 0).all() and (classes[0, n:] == -1).all()
    assert (boxes[0, n:] == 0).all()
    best = logits[0].sigmoid()[:, 1:].max(-1)
    kept = boxes[0, :n]
    overlaps = torch.triu(box_iou(kept, kept), diagonal=1)
    assert (overlaps <= 0.3 + 1e-6).all()                          # no two survivors overlap, whatever the class
    assert set(scores[0, :n].tolist()) <= set(best.values.tolist())
