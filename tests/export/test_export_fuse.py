"""BN folding: the inference form computes what the training model computes in eval mode."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mobilenet.export.fuse import count_batch_norms, fold_batch_norm, inference_form, max_abs_diff
from tests.export.helpers import perturbed

FAMILIES = ("mobilenet_v1_050", "mobilenet_v2", "mobilenet_v3_large_075", "mobilenet_v3_small",
            "mobilenet_v3_small_minimal")


@pytest.mark.parametrize("name", FAMILIES)
def test_folding_keeps_outputs(name: str) -> None:
    model = perturbed(name)
    folded = fold_batch_norm(model)
    assert count_batch_norms(model) > 0 and count_batch_norms(folded) == 0
    x = torch.randn(2, 3, 115, 97)
    assert float(model(x).abs().max()) > 0.1  # the comparison below is not between two near-zero tensors
    assert max_abs_diff(model, folded, x) <= 1e-4


def test_folding_leaves_the_original_alone() -> None:
    model = perturbed("mobilenet_v2_050").train()
    fold_batch_norm(model)
    assert model.training and count_batch_norms(model) == sum(
        isinstance(m, nn.BatchNorm2d) for m in model.modules())


def test_tf_same_padding_model_folds() -> None:
    model = perturbed("mobilenet_v1_025", padding="tf_same")
    x = torch.randn(1, 3, 96, 96)
    assert max_abs_diff(model, fold_batch_norm(model), x) <= 1e-4


def test_inference_form_is_channels_last_and_keeps_hard_activations() -> None:
    model = perturbed("mobilenet_v3_large")
    fast = inference_form(model, channels_last=True)
    assert fast.stem.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert sum(isinstance(m, nn.Hardswish) for m in fast.modules()) == sum(
        isinstance(m, nn.Hardswish) for m in model.modules()) > 0
    assert sum(isinstance(m, nn.Hardsigmoid) for m in fast.modules()) > 0
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        diff = (model(x) - fast(x.contiguous(memory_format=torch.channels_last))).abs().max()
    assert float(diff) <= 1e-4


def test_recalibration_sets_statistics_of_the_data() -> None:
    from mobilenet.export.fuse import recalibrate_batch_norm

    model = perturbed("mobilenet_v3_small_050", resolution=64)
    data = [torch.randn(8, 3, 64, 64) * 2 + 1 for _ in range(3)]
    recalibrate_batch_norm(model, data)
    assert not model.training and model.stem.bn.momentum == 0.01
    stem = model.stem.conv
    with torch.no_grad():
        out = torch.cat([stem(x) for x in data])
    assert torch.allclose(model.stem.bn.running_mean, out.mean((0, 2, 3)), atol=1e-4)
