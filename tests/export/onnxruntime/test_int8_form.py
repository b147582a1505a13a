"""The INT8 form: padded widths and integer-friendly activations, with the model's outputs unchanged."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import onnx
import pytest
import torch
from tests.export.helpers import perturbed
from torch import nn

from mobilenet.blocks import InvertedResidual, SqueezeExcite
from mobilenet.export.fuse import fold_batch_norm
from mobilenet.data.preprocessing import Preprocessing
from mobilenet.export.onnxruntime.int8_form import check_int8_form, int8_form
from mobilenet.export.onnxruntime.pad import pad_block, pad_expansions
from mobilenet.export.onnxruntime.qat import QuantSim, SplitHardSwish, quantized_outputs
from mobilenet.export.onnxruntime.quantize import quantize_source
from mobilenet.sources import ModelSource
from mobilenet.layers.activations import ScaledHardSwish
from mobilenet.models.registry import MODELS


@pytest.mark.parametrize("name", sorted(n for n, e in MODELS.items() if e.task == "classification"))
def test_int8_form_computes_the_same_function(name: str) -> None:
    model = perturbed(name, resolution=64)
    form = int8_form(model)
    x = torch.randn(3, 3, 72, 72)
    with torch.no_grad():
        expected, got = model(x), form(x)
    assert expected.abs().max() > 0.1  # logits of a size where a wrong rescale would show
    assert (got - expected).abs().max() <= 1e-4 * max(1.0, float(expected.abs().max()))
    assert check_int8_form(model, form, 64) <= 1e-4
    # no hard-swish or hard-sigmoid op left except the stem's, whose conv stays in float
    leftover = [m for m in form.modules() if isinstance(m, (nn.Hardswish, nn.Hardsigmoid))]
    assert leftover == ([form.stem.act] if isinstance(form.stem.act, nn.Hardswish) else [])
    assert not any(isinstance(m, nn.BatchNorm2d) for m in form.modules())


@pytest.mark.parametrize("name", ["mobilenet_v3_large", "mobilenet_v3_small", "mobilenet_v3_large_075"])
def test_expansions_are_padded_to_16_with_channels_that_stay_zero(name: str) -> None:
    model = fold_batch_norm(perturbed(name, resolution=64))
    widths = [b.depthwise.conv.out_channels for b in model.blocks if isinstance(b, InvertedResidual)]
    assert any(w % 16 for w in widths)  # V3's 72, 88, 120 ... (V3 Tables 1-2)
    padded, count = pad_expansions(model)
    blocks = [b for b in padded.blocks if isinstance(b, InvertedResidual)]
    assert count == sum(1 for b, w in zip(blocks, widths) if w % 16 and not isinstance(b.expand, nn.Identity))
    captured: list[tuple[torch.Tensor, int]] = []
    for block, width in zip(blocks, widths):
        if not isinstance(block.expand, nn.Identity):
            assert block.depthwise.conv.out_channels % 16 == 0
            block.depthwise.register_forward_hook(lambda _m, _i, out, w=width: captured.append((out, w)))
    with torch.no_grad():
        padded(torch.randn(2, 3, 64, 64))
    assert captured and all(out[:, width:].abs().max() == 0 for out, width in captured if out.shape[1] > width)
    assert any(out.shape[1] > width for out, width in captured)


def test_padding_needs_folded_batch_norm() -> None:
    block = next(b for b in perturbed("mobilenet_v3_small", resolution=64).blocks
                 if isinstance(b, InvertedResidual) and b.depthwise.conv.out_channels % 16)
    with pytest.raises(ValueError, match="still has batch norm; fold it first"):
        pad_block(block, 16)


def test_se_gates_become_relu6_and_the_head_is_rescaled() -> None:
    form = int8_form(perturbed("mobilenet_v3_large", resolution=64))
    gates = [m.gate for m in form.modules() if isinstance(m, SqueezeExcite)]
    assert gates and all(isinstance(g, nn.ReLU6) for g in gates)
    assert isinstance(form.head_act, ScaledHardSwish) and isinstance(form.last_conv.act, ScaledHardSwish)


def test_quant_sim_observes_each_hard_swish_gate_and_restores_the_activations() -> None:
    model = fold_batch_norm(perturbed("mobilenet_v3_small_050", resolution=64))
    sim = QuantSim(model)
    split = [m for m in model.modules() if isinstance(m, SplitHardSwish)]
    assert len(split) == 18 and isinstance(model.stem.act, nn.Hardswish)  # the float stem is not split
    points = quantized_outputs(model)
    assert all(any(p is s.gate for p in points) for s in split)
    assert not any(p is model.stem.conv for p in points)
    sim.set(observe=True, quantize=True)
    with torch.no_grad():
        assert torch.isfinite(model(torch.randn(2, 3, 64, 64))).all()
    baked = sim.bake()
    assert not any(isinstance(m, SplitHardSwish) for m in baked.modules())
    assert sum(isinstance(m, nn.Hardswish) for m in baked.modules()) == 19


def test_quantized_v3_has_no_float_activation_islands(image_folder: Path, tmp_path: Path) -> None:
    model = perturbed("mobilenet_v3_small_050", resolution=64, num_classes=2)
    out = tmp_path / "int8.onnx"
    quantize_source(ModelSource(model, "m", Preprocessing(64), ["ants", "bees"]), out, image_folder,
                    exporter="torchscript")
    ops = Counter(node.op_type for node in onnx.load(str(out)).graph.node)
    assert ops["HardSigmoid"] == 0 and ops["HardSwish"] <= 1  # at most the float stem's
    assert ops["QuantizeLinear"] > 30


def test_a_wrong_int8_form_is_refused() -> None:
    model = perturbed("mobilenet_v3_small_050", resolution=64)
    form = int8_form(model)
    with torch.no_grad():
        form.classifier.weight.mul_(6.0)  # a forgotten rescale
    with pytest.raises(ValueError, match="INT8 form differs from the model"):
        check_int8_form(model, form, 64)
