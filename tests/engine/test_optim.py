"""Optimiser details of the papers' recipes: TF RMSProp, no decay on BN/bias, schedules, freezing."""

from __future__ import annotations

import math

import pytest
import torch

import mobilenet
from mobilenet.engine.config import resolve_config
from mobilenet.engine.optim import RMSpropTF, build_optimizer, build_scheduler, lr_factor, param_groups


def test_no_weight_decay_on_batch_norm_and_biases():
    model = mobilenet.create_model("mobilenet_v3_small", width_mult=0.35, num_classes=10)
    decay, no_decay = param_groups(model, 1e-5)
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == 1e-5 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in decay["params"])
    assert {names[id(p)] for p in no_decay["params"]} >= {"stem.bn.weight", "stem.bn.bias", "classifier.bias"}
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_rmsprop_tf_matches_the_tensorflow_update_rule():
    """TF1 RMSProp: ms starts at 1, eps inside the root, lr inside the momentum buffer."""
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = RMSpropTF([p], lr=0.1, alpha=0.9, eps=1e-3, momentum=0.9)
    ms, mom, value = torch.ones(2), torch.zeros(2), p.detach().clone()
    for grad in (torch.tensor([0.5, -1.0]), torch.tensor([0.25, 2.0])):
        p.grad = grad.clone()
        opt.step()
        ms = 0.9 * ms + 0.1 * grad**2
        mom = 0.9 * mom + 0.1 * grad / torch.sqrt(ms + 1e-3)
        value = value - mom
        assert torch.allclose(p.detach(), value, atol=1e-7)
    torch_rms = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    reference = torch.optim.RMSprop([torch_rms], lr=0.1, alpha=0.9, eps=1e-3, momentum=0.9)
    torch_rms.grad = torch.tensor([0.5, -1.0])
    reference.step()  # PyTorch's variant (ms from 0, eps outside) takes a very different first step
    assert (torch_rms.detach() - torch.tensor([1.0, -2.0])).abs().min() > 0.2


def test_warmup_then_cosine_and_step_schedules():
    cosine = resolve_config(None, epochs=10, warmup_epochs=1, warmup_lr_ratio=0.1, sched="cosine")
    assert lr_factor(0, 10, cosine) == pytest.approx(0.1)
    assert lr_factor(5, 10, cosine) == pytest.approx(0.1 + 0.9 * 0.5)
    assert lr_factor(10, 10, cosine) == pytest.approx(1.0)
    assert lr_factor(55, 10, cosine) == pytest.approx(0.5 * (1 + math.cos(math.pi * 45 / 90)))
    assert lr_factor(100, 10, cosine) == pytest.approx(0.0)
    step = resolve_config(None, epochs=10, sched="step", step_epochs=2, step_gamma=0.973)
    assert [lr_factor(s, 10, step) for s in (0, 19, 20, 45)] == pytest.approx([1, 1, 0.973, 0.973**2])


def test_frozen_backbone_gets_no_update_until_it_thaws():
    model = mobilenet.create_model("mobilenet_v3_small", width_mult=0.35, num_classes=3)
    config = resolve_config(None, epochs=2, lr=0.1, weight_decay=1e-3, opt="sgd", weights="x", freeze_epochs=1)
    optimizer = build_optimizer(model, config, frozen_steps=2)
    scheduler = build_scheduler(optimizer, 2, config)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for step in range(3):
        optimizer.zero_grad()
        model(torch.randn(4, 3, 32, 32)).sum().backward()
        optimizer.step()
        scheduler.step()
        changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
        if step < 2:
            assert changed == {"classifier.weight", "classifier.bias"}
        else:
            assert "stem.conv.weight" in changed
