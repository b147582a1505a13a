"""Quantization-aware fine-tuning: simulate onnxruntime's INT8 in PyTorch, then export to QDQ.

MobileNetV3 is the known hard case for post-training INT8: hard-swish ranges, SE products and
depthwise filters with tiny weights (pytorch/vision#3366, microsoft/onnxruntime#11415,
pytorch/pytorch#114859). Here the BN-folded model is fine-tuned with fake quantization at the
places onnxruntime's static QDQ quantizer quantizes: weights per output channel (symmetric int8)
and activations per tensor (asymmetric uint8: the input, every conv unit, the SE pool/gate/product,
residual sums and the head). Weights end on the int8 grid the exporter will use, so the QDQ model
computes what the fine-tuning saw; activation ranges are then re-calibrated by ``quantize_source``.

Fake quantization uses ``torch.fake_quantize_per_*_affine`` (straight-through gradients) and
``torch.nn.utils.parametrize``: no second model tree and no deprecated ``torch.ao`` eager API.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.nn.utils import parametrize

from mobilenet.blocks import FusedBottleneck, InvertedResidual, MobileAttention, SqueezeExcite, UniversalBottleneck
from mobilenet.layers.layer_scale import LayerScale
from mobilenet.export.finetune import fine_tune
from mobilenet.export.fuse import fold_batch_norm
from mobilenet.export.images import list_images, load_images
from mobilenet.export.onnxruntime.quantize import QuantizeReport, quantize_source
from mobilenet.sources import ModelSource
from mobilenet.layers.conv import ConvNormAct
from mobilenet.models.mobilenet import MobileNet


class WeightFakeQuant(nn.Module):
    """Per-output-channel symmetric int8 (-127..127), as onnxruntime's per-channel QInt8 weights."""

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        amax = weight.detach().abs().amax(dim=tuple(range(1, weight.dim()))).clamp(min=1e-8)
        zero = torch.zeros(weight.shape[0], dtype=torch.int32, device=weight.device)
        return torch.fake_quantize_per_channel_affine(weight, amax / 127.0, zero, 0, -127, 127)


class ActivationFakeQuant(nn.Module):
    """Per-tensor asymmetric uint8 with a running min/max range (always containing 0)."""

    def __init__(self, momentum: float = 0.05) -> None:
        super().__init__()
        self.momentum = momentum
        self.register_buffer("low", torch.tensor(0.0))
        self.register_buffer("high", torch.tensor(0.0))
        self.register_buffer("seen", torch.tensor(False))
        self.observe, self.quantize = True, False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.observe:
            with torch.no_grad():
                low, high = x.detach().min().clamp(max=0), x.detach().max().clamp(min=0)
                if bool(self.seen):
                    self.low.lerp_(low, self.momentum)
                    self.high.lerp_(high, self.momentum)
                else:
                    self.low.copy_(low), self.high.copy_(high), self.seen.fill_(True)
        if not self.quantize:
            return x
        scale = ((self.high - self.low) / 255.0).clamp(min=1e-8)
        zero = torch.round(-self.low / scale).clamp(0, 255).to(torch.int32)
        return torch.fake_quantize_per_tensor_affine(x, scale, zero, 0, 255)


class SplitHardSwish(nn.Module):
    """``x * hardsigmoid(x)``: hard-swish with its gate as a module, so QAT can quantize the gate.

    The INT8 form (``int8_form``) computes ``x * relu6(x + 3)`` with the ramp as a uint8 tensor of
    its own; per-tensor quantization is scale-equivariant, so quantizing ``hardsigmoid(x)`` here is
    the same as quantizing that ramp. Training stays in the original parametrization: the INT8
    form's 1/6 and 1/36 weight scales would change SGD's effective step sizes by the same factors.
    """

    def __init__(self) -> None:
        super().__init__()
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


def _hard_swish_units(model: MobileNet) -> list[tuple[nn.Module, str]]:
    """(parent, attribute) of every hard-swish after a quantized layer: all but the float stem's."""
    units: list[tuple[nn.Module, str]] = [
        (m, "act") for m in model.modules()
        if isinstance(m, ConvNormAct) and m is not model.stem and isinstance(m.act, (nn.Hardswish, SplitHardSwish))]
    if isinstance(model.head_act, (nn.Hardswish, SplitHardSwish)):
        units.append((model, "head_act"))
    return units


def quantized_outputs(model: MobileNet) -> list[nn.Module]:
    """The modules whose outputs the INT8 form's QDQ graph holds as uint8 tensors (``int8_form``).

    ``model`` is BN-folded with ``SplitHardSwish`` activations (``QuantSim`` swaps them in). Inside
    V4's attention blocks only the block output is observed (weights are fake-quantized as everywhere).
    ReLU/ReLU6 and the SE gate's ReLU6 fold into the range of the conv before them; a hard-swish
    quantizes the conv output, the gate and the product. The stem conv stays in float.
    """
    points: list[nn.Module] = []
    for module in model.modules():
        if isinstance(module, ConvNormAct):
            if isinstance(module.act, SplitHardSwish):
                points += [module.conv, module.act.gate]
            points.append(module)
        elif isinstance(module, SqueezeExcite):
            points += [module.pool, module.act, module.gate, module]
        elif isinstance(module, (InvertedResidual, UniversalBottleneck, FusedBottleneck)):
            if isinstance(getattr(module, "scale", None), LayerScale):  # V4 Hybrid
                points.append(module.scale)
            if module.use_residual:
                points.append(module)
        elif isinstance(module, MobileAttention):
            points.append(module)
    points.append(model.pool)
    if not isinstance(model.head_conv, nn.Identity):
        points.append(model.head_conv)
    if isinstance(model.head_act, SplitHardSwish):
        points.append(model.head_act.gate)
    points += [model.head_act, model.classifier]
    return points


class QuantSim:
    """Fake quantization attached to a BN-folded MobileNet; ``bake`` removes it, weights on the int8 grid.

    The stem conv's weights stay float, as the stem conv does in the exported model (``stem_conv``).
    """

    def __init__(self, model: MobileNet) -> None:
        if any(isinstance(m, nn.BatchNorm2d) for m in model.modules()):
            raise ValueError("fold batch norm first (mobilenet.export.fuse.fold_batch_norm)")
        self.model = model
        for parent, name in _hard_swish_units(model):
            setattr(parent, name, SplitHardSwish())
        self.observers: list[ActivationFakeQuant] = []
        self.handles = []
        entry = ActivationFakeQuant()
        self.handles.append(model.register_forward_pre_hook(lambda _m, args, q=entry: (q(args[0]),)))
        self.observers.append(entry)
        for module in quantized_outputs(model):
            observer = ActivationFakeQuant()
            self.handles.append(module.register_forward_hook(lambda _m, _i, out, q=observer: q(out)))
            self.observers.append(observer)
        model.add_module("fake_quant", nn.ModuleList(self.observers))
        self.weighted = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))
                         and m is not model.stem.conv]
        for module in self.weighted:
            parametrize.register_parametrization(module, "weight", WeightFakeQuant())

    def set(self, observe: bool, quantize: bool) -> None:
        for observer in self.observers:
            observer.observe, observer.quantize = observe, quantize

    def bake(self) -> MobileNet:
        """Weights replaced by their fake-quantized values; hooks, observers and split activations removed."""
        for module in self.weighted:
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
        for handle in self.handles:
            handle.remove()
        del self.model.fake_quant
        for parent, name in _hard_swish_units(self.model):
            setattr(parent, name, nn.Hardswish())
        return self.model


@dataclass
class QatReport:
    quantize: QuantizeReport
    epochs: int


def qat_int8(source: ModelSource, out_path: str | Path, train_dir: str | Path, calib_dir: str | Path, epochs: int,
             method: str = "minmax", batch: str | int = "dynamic", lr: float = 0.005,
             log: Callable[[str], None] = print) -> QatReport:
    """Fine-tune ``source`` with simulated INT8 for ``epochs``, then write the QDQ model to ``out_path``."""
    if epochs < 1:
        raise ValueError(f"qat epochs must be >= 1, got {epochs}")
    calib = list_images(calib_dir, "calibration folder")
    model = fold_batch_norm(source.model)
    sim = QuantSim(model)
    with torch.no_grad():  # initial ranges from the calibration images, as PTQ would pick them
        sim.set(observe=True, quantize=False)
        model.eval()
        for start in range(0, min(len(calib), 64), 16):
            model(load_images(calib[start:start + 16], source.preprocessing))
    sim.set(observe=True, quantize=True)
    fine_tune(model, train_dir, source.preprocessing, source.class_names, epochs, lr=lr, log=log)
    tuned = ModelSource(sim.bake(), f"{source.name}-qat", source.preprocessing, source.class_names)
    report = quantize_source(tuned, out_path, calib_dir, method=method, batch=batch, extra_meta={"qat_epochs": epochs})
    return QatReport(report, epochs)
