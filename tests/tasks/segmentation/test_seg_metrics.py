"""mIoU, per-class IoU and pixel accuracy from one confusion matrix, summed over shards as over processes."""

from __future__ import annotations

import pytest
import torch

from mobilenet.tasks.segmentation.loss import segmentation_loss
from mobilenet.tasks.segmentation.metrics import confusion, iou_per_class, segmentation_result
from mobilenet.tasks.segmentation.task import SegmentationTask


def test_iou_by_hand() -> None:
    target = torch.tensor([[0, 0, 1, 1], [2, 2, 255, 1]])
    predicted = torch.tensor([[0, 1, 1, 1], [2, 0, 2, 3]])
    matrix = confusion(predicted, target, 4)
    assert matrix.sum() == 7  # the ignored pixel is not counted
    # class 0: TP 1, FP 1 (a 2 called 0), FN 1 -> 1/3; class 1: TP 2, FP 1, FN 1 -> 1/2; class 2: 1/2;
    # class 3: predicted once where 1 was -> 0; every class occurs
    assert iou_per_class(matrix) == pytest.approx([1 / 3, 1 / 2, 1 / 2, 0.0])
    result = segmentation_result(matrix, 3.0, 7, 1, ["a", "b", "c", "d"])
    assert result.metrics["miou"] == pytest.approx((1 / 3 + 1 / 2 + 1 / 2) / 4)
    assert result.metrics["pixel_acc"] == pytest.approx(4 / 7) and result.primary == "miou"
    absent = confusion(torch.tensor([0, 1]), torch.tensor([0, 1]), 3)
    assert iou_per_class(absent) == [1.0, 1.0, None]  # a class in neither labels nor predictions: no IoU
    assert segmentation_result(absent, 0.0, 2, 1, ["a", "b", "c"]).metrics["miou"] == 1.0


def test_shards_sum_to_the_whole() -> None:
    """Each process evaluates its shard; the summed matrices give the one-process metrics."""
    torch.manual_seed(0)
    logits = torch.randn(6, 5, 9, 11)
    targets = torch.randint(0, 5, (6, 9, 11))
    targets[:, 0] = 255
    task = SegmentationTask()

    def shard(indices: slice):
        return task.evaluate_shard(lambda x: x, [(logits[indices], targets[indices])], torch.device("cpu"),
                                   lambda x: x, lambda: torch.autocast("cpu", enabled=False))

    names = [str(i) for i in range(5)]
    whole = task.summarize([shard(slice(0, 6))], names)
    split = task.summarize([shard(slice(0, 2)), shard(slice(2, 6))], names)
    assert whole.metrics == pytest.approx(split.metrics) and whole.count == split.count == 6
    loss, _ = segmentation_loss(logits, targets)
    assert whole.metrics["loss"] == pytest.approx(float(loss), rel=1e-5)
    labels = task.summarize([task.evaluate_shard(lambda x: x.argmax(1), [(logits, targets)], torch.device("cpu"),
                                                 lambda x: x, lambda: torch.autocast("cpu", enabled=False))], names)
    assert labels.metrics["miou"] == pytest.approx(whole.metrics["miou"])  # an exported arg-max: same mIoU


def test_loss_ignores_255_and_survives_an_all_ignored_batch() -> None:
    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    targets = torch.full((2, 4, 4), 255)
    loss, stats = segmentation_loss(logits, targets)
    assert float(loss) == 0.0 and stats["pixel_acc"] == 0.0
    loss.backward()
    targets[0, 0, 0] = 1
    loss, _ = segmentation_loss((logits, logits * 2), targets, aux_weight=0.5)
    expected = torch.nn.functional.cross_entropy(logits[:1, :, 0, 0], torch.tensor([1])) * 1 + \
        0.5 * torch.nn.functional.cross_entropy(2 * logits[:1, :, 0, 0], torch.tensor([1]))
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    with pytest.raises(ValueError, match="logits of size"):
        segmentation_loss(logits, torch.zeros(2, 5, 5, dtype=torch.long))
