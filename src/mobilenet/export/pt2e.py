"""INT8 through PT2E, the quantization path LiteRT and ExecuTorch share.

The BN-folded model is captured with ``torch.export``; torchao's ``prepare_pt2e`` inserts observers
where the runtime's quantizer says (ExecuTorch: ``XNNPACKQuantizer``; LiteRT: litert-torch's
``PT2EQuantizer``), calibration images fill them, and ``convert_pt2e`` leaves a graph of
quantize/dequantize pairs around float ops that the runtime's lowering turns into int8 kernels.
Weights are symmetric int8 per output channel, activations int8 per tensor. Quantization-aware
training goes through the same path (``prepare_qat_pt2e``): the fake-quantized graph is
fine-tuned on labelled images before it is converted.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

from mobilenet.export.finetune import fine_tune
from mobilenet.export.fuse import fold_batch_norm
from mobilenet.export.images import list_images, load_images
from mobilenet.sources import ModelSource

CALIBRATION_METHODS = ("histogram", "minmax")
"""Activation observers: ``histogram`` (the quantizers' default: the range that minimises the
quantization error) or ``minmax`` (the observed extremes)."""


def with_observer(config: Any, method: str) -> Any:
    """A quantizer's ``QuantizationConfig`` with its activation observer chosen by ``method``."""
    from torchao.quantization.pt2e.observer import HistogramObserver, MinMaxObserver

    if method not in CALIBRATION_METHODS:
        raise ValueError(f"unknown calibration method {method!r} for PT2E; valid: {', '.join(CALIBRATION_METHODS)}")
    observer = (MinMaxObserver if method == "minmax" else HistogramObserver).with_args(eps=2**-12)
    changed = {}
    for name in ("input_activation", "output_activation"):
        spec = getattr(config, name)
        if spec is not None:
            changed[name] = dataclasses.replace(spec, observer_or_fake_quant_ctr=observer)
    return dataclasses.replace(config, **changed)


def calibration_batches(folder: str | Path, source: ModelSource, resolution: int, limit: int,
                        batch: int = 1) -> list[torch.Tensor]:
    """Up to ``limit`` images of ``folder``, spread over its sorted class folders, in batches of ``batch``
    (the exported file's fixed batch)."""
    paths = list_images(folder, "calibration folder")
    paths = paths[::max(1, len(paths) // limit)][:limit]
    if len(paths) < batch:
        raise ValueError(f"{len(paths)} calibration images are fewer than the batch {batch}; add images")
    pre = source.preprocessing.at_resolution(resolution)
    images = load_images(paths, pre)
    return [images[i:i + batch] for i in range(0, len(images) - batch + 1, batch)]


def _prepared(module: torch.nn.Module, example: torch.Tensor, quantizer: Any, qat: bool) -> torch.fx.GraphModule:
    from torchao.quantization.pt2e import allow_exported_model_train_eval
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e, prepare_qat_pt2e

    # QAT trains on batches of any size; the file gets the example's batch when it is exported again
    dims = {next(iter(_arguments(module))): {0: torch.export.Dim("batch", min=1, max=4096)}} if qat else None
    if qat and len(example) == 1:  # torch.export specializes a dim whose example size is 1
        example = example.expand(2, *example.shape[1:]).contiguous()
    graph = torch.export.export(module.eval(), (example,), dynamic_shapes=dims).module()
    prepared = prepare_qat_pt2e(graph, quantizer) if qat else prepare_pt2e(graph, quantizer)
    return allow_exported_model_train_eval(prepared)


def _arguments(module: torch.nn.Module) -> list[str]:
    import inspect

    return list(inspect.signature(module.forward).parameters)


def _observe(prepared: torch.nn.Module, batches: Iterable[torch.Tensor]) -> None:
    prepared.eval()
    with torch.no_grad():
        for x in batches:
            prepared(x)


def quantize(module: torch.nn.Module, example: torch.Tensor, quantizer: Any,
             batches: Iterable[torch.Tensor], fold_weights: bool = False) -> torch.fx.GraphModule:
    """Post-training INT8: ``module`` (BN folded, eval mode) observed on ``batches``, then converted.

    The result is the quantized reference graph: it runs in PyTorch with float ops between
    quantize/dequantize pairs, and it is what ``torch.export`` hands to the runtime's lowering.
    ``fold_weights``: weights stored as int8 constants (ExecuTorch, which has no kernel for a
    ``quantize_per_channel`` left outside XNNPACK), else as float weights with their quantize op
    (litert-torch quantizes them itself).
    """
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    prepared = _prepared(module, example, quantizer, qat=False)
    _observe(prepared, batches)
    return convert_pt2e(prepared, fold_quantize=fold_weights)


def quantize_aware(source: ModelSource, module: Callable[[torch.nn.Module], torch.nn.Module],
                   example: torch.Tensor, quantizer: Any, batches: list[torch.Tensor], train_dir: str | Path,
                   epochs: int, lr: float = 0.005, channels_last: bool = False, fold_weights: bool = False,
                   log: Callable[[str], None] = print) -> torch.fx.GraphModule:
    """INT8 after quantization-aware fine-tuning: the BN-folded model with the quantizer's fake
    quantization (weights per channel, activations per tensor, ranges first taken from ``batches``)
    fine-tuned for ``epochs`` on ``train_dir/<class>/<image>``, then converted.

    ``module`` wraps the folded model into what is exported (named outputs, and NHWC input when
    ``channels_last``, LiteRT's layout; ``batches`` are in that layout too); ``fold_weights`` as for ``quantize``.
    """
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    if epochs < 1:
        raise ValueError(f"qat epochs must be >= 1, got {epochs}")
    prepared = _prepared(module(fold_batch_norm(source.model)), example, quantizer, qat=True)
    _observe(prepared, batches)
    fine_tune(_Trainable(prepared, channels_last), train_dir, source.preprocessing, source.class_names, epochs, lr=lr,
              log=log)
    prepared.eval()  # dropout and the like in their eval form; the module's flag stays as it was
    converted = convert_pt2e(prepared, fold_quantize=fold_weights)
    for part in converted.modules():
        part.training = False  # what the lowerings check: an exported graph has no eval() of its own
    return converted


class _Trainable(torch.nn.Module):
    """The prepared graph as ``fine_tune`` trains it: NCHW images in, logits out.

    The exported graph takes the runtime's layout (NHWC for LiteRT) and returns named outputs.
    """

    def __init__(self, graph: torch.nn.Module, channels_last: bool) -> None:
        super().__init__()
        self.graph, self.channels_last = graph, channels_last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.graph(x.permute(0, 2, 3, 1) if self.channels_last else x)
        return next(iter(out.values())) if isinstance(out, dict) else out
