"""Export of segmenters: float ONNX with the logits or the arg-max inside (every output compared with
PyTorch), the INT8 form (tapped blocks left as they are, the rest padded and rewritten) and INT8 (QDQ)
labels. The torchscript exporter keeps these tests fast; the dynamo one is the CLI's default and is
covered by tests/export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import nn

import mobilenet
from mobilenet.data.preprocessing import Preprocessing
from mobilenet.export.onnx import compare, export_module, export_onnx, make_session, read_metadata
from mobilenet.export.onnxruntime.int8_form import check_int8_form, int8_form
from mobilenet.export.onnxruntime.pad import tapped_blocks
from mobilenet.export.onnxruntime.quantize import quantize_source
from mobilenet.layers.activations import ScaledHardSwish
from mobilenet.sources import ModelSource

SIZE = 48


def _segmenter(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    model = mobilenet.create_model("lraspp_mobilenet_v3_small", num_classes=3, resolution=SIZE, width_mult=0.35)
    with torch.no_grad():  # BN statistics away from the identity, so folding them is tested
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
    return model.eval()


@pytest.fixture(scope="module")
def source() -> ModelSource:
    return ModelSource(_segmenter(0), "lraspp", Preprocessing(SIZE, 1.0, "squash"), ["background", "square", "bar"])


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(4, 3, SIZE, SIZE)).astype(np.float32)


@pytest.mark.parametrize("postprocess", [False, True])
def test_onnx_gives_the_logits_or_the_labels(source, images, tmp_path: Path, postprocess: bool) -> None:
    path = tmp_path / "seg.onnx"
    report = export_onnx(source, path, exporter="torchscript", postprocess=postprocess)
    session = make_session(path)
    (output,) = session.get_outputs()
    assert output.name == ("labels" if postprocess else "logits")
    assert output.type == ("tensor(int64)" if postprocess else "tensor(float)")
    assert ("ArgMax" in report.ops) == postprocess and read_metadata(path)["outputs"] == [output.name]
    got = session.run(None, {"input": images})[0]
    with torch.no_grad():
        logits = source.model(torch.from_numpy(images))
    if postprocess:
        assert got.shape == (4, SIZE, SIZE) and (got == logits.argmax(1).numpy()).mean() == 1.0
    else:
        assert got.shape == (4, 3, SIZE, SIZE) and np.abs(got - logits.numpy()).max() < 1e-4


def test_integer_outputs_are_compared_by_the_share_of_differing_labels(source, images, tmp_path: Path) -> None:
    path = tmp_path / "labels.onnx"
    export_onnx(source, path, exporter="torchscript", postprocess=True)
    session = make_session(path)
    x = torch.from_numpy(images)
    assert compare(session, export_module(source.model, True), x) == 0.0
    with torch.no_grad():
        flipped = export_module(source.model, True)(x)
    flipped[:, :SIZE // 4] = (flipped[:, :SIZE // 4] + 1) % 3  # a quarter of the pixels get another class
    assert compare(session, lambda _: flipped, x) == pytest.approx(0.25)


def test_int8_form_keeps_the_tapped_blocks_and_rewrites_the_rest(source) -> None:
    """LR-ASPP reads the 1/8 skip from inside a block (a depthwise output): padding that block or
    scaling its activations would change what the head sees."""
    model = source.model
    tapped = tapped_blocks(model)
    assert tapped == {f"backbone.{tap.module}" for tap in model.backbone.feature_info() if tap.location != "block"}
    assert tapped  # the skip is a depthwise tap
    form = int8_form(model)
    blocks = {name: module for name, module in form.named_modules() if name.startswith("backbone.blocks.")
              and name.count(".") == 2}
    original = dict(model.named_modules())
    for name, block in blocks.items():
        width = block.depthwise.conv.out_channels if hasattr(block.depthwise, "conv") else None
        before = original[name].depthwise.conv.out_channels if width is not None else None
        if name in tapped:
            assert width == before and not any(isinstance(m, ScaledHardSwish) for m in block.modules())
        elif width is not None and not isinstance(block.expand, nn.Identity):
            assert width % 16 == 0
    assert any(isinstance(m, ScaledHardSwish) for m in form.modules())
    assert check_int8_form(model, form, SIZE) < 1e-4


def test_int8_file_with_the_arg_max_inside_labels_like_pytorch(source, images, tmp_path: Path) -> None:
    path = tmp_path / "seg.int8.onnx"
    report = quantize_source(source, path, [images], exporter="torchscript", postprocess=True)
    assert report.calibration_images == 4
    session = make_session(path)
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "ArgMax"} <= ops
    (output,) = session.get_outputs()
    assert output.name == "labels" and output.type == "tensor(int64)"
    got = session.run(None, {"input": images})[0]
    with torch.no_grad():
        expected = source.model(torch.from_numpy(images)).argmax(1).numpy()
    assert got.shape == expected.shape and (got == expected).mean() > 0.85
