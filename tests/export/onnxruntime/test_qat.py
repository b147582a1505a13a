"""Quantization-aware fine-tuning: fake quantization, baking onto the int8 grid, QDQ output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from tests.export.helpers import perturbed

from mobilenet.export.fuse import fold_batch_norm
from mobilenet.data.preprocessing import Preprocessing
from mobilenet.export.onnx import make_session, read_metadata
from mobilenet.export.onnxruntime.qat import QuantSim, qat_int8
from mobilenet.sources import ModelSource


def test_quant_sim_bakes_weights_onto_the_per_channel_int8_grid() -> None:
    model = fold_batch_norm(perturbed("mobilenet_v3_small_050", resolution=64))
    sim = QuantSim(model)
    sim.set(observe=True, quantize=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        simulated = model(x)
    baked = sim.bake()
    assert not hasattr(baked, "fake_quant")
    for module in baked.modules():
        if isinstance(module, torch.nn.Conv2d) and module is not baked.stem.conv:  # the stem stays float
            w = module.weight.detach().flatten(1)
            steps = w / (w.abs().amax(1, keepdim=True) / 127)
            assert torch.allclose(steps, steps.round(), atol=1e-3)  # integers: on the grid
    with torch.no_grad():
        float_out = baked(x)
    assert not torch.equal(simulated, float_out)  # activations were quantized in the simulation
    assert (simulated - float_out).abs().max() < 0.5 * float_out.abs().max()


def test_quant_sim_refuses_unfolded_models() -> None:
    with pytest.raises(ValueError, match="fold batch norm first"):
        QuantSim(perturbed("mobilenet_v1_025", resolution=64))


def test_qat_writes_a_qdq_model_that_runs(image_folder: Path, tmp_path: Path) -> None:
    model = perturbed("mobilenet_v3_small_050", resolution=64, num_classes=2)
    source = ModelSource(model, "m", Preprocessing(64), ["ants", "bees"])
    out = tmp_path / "qat.onnx"
    lines: list[str] = []
    report = qat_int8(source, out, image_folder, image_folder, epochs=1, log=lines.append)
    assert len(lines) == 1 and "qat epoch 1/1" in lines[0]
    assert report.quantize.calibration_images == 8
    assert read_metadata(out)["quantization"]["qat_epochs"] == 1
    assert "QuantizeLinear" in {n.op_type for n in onnx.load(str(out)).graph.node}
    got = make_session(out).run(None, {"input": np.zeros((2, 3, 64, 64), np.float32)})[0]
    assert got.shape == (2, 2) and np.isfinite(got).all()
    assert source.model.stem.bn.__class__.__name__ == "BatchNorm2d"  # the caller's model is untouched
