"""Multiply-adds and parameters measured on any module by forward hooks.

An independent check of ``profile`` (which reads the spec), and a counter for peer models.
"""

from __future__ import annotations

import torch
from torch import nn

from mobilenet.blocks.attention import AttentionProduct


def count_by_hooks(model: nn.Module, input_size: tuple[int, int, int, int]) -> dict[str, int]:
    """Run one forward pass and count conv and linear multiply-adds from the real tensors.

    Returns ``{"macs", "params", "params_with_bn"}``; ``params`` excludes BN affine parameters.
    """
    macs = 0

    def conv_hook(module: nn.Conv2d, _inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        nonlocal macs
        macs += module.weight.numel() * output.shape[-1] * output.shape[-2]

    def linear_hook(module: nn.Linear, _inputs: tuple[torch.Tensor], _output: torch.Tensor) -> None:
        nonlocal macs
        macs += module.weight.numel()

    def attention_hook(_module: nn.Module, inputs: tuple[torch.Tensor, ...], _output: torch.Tensor) -> None:
        nonlocal macs  # q @ k^T and weights @ v, per image
        q, k, v = inputs
        macs += q.shape[1] * q.shape[2] * k.shape[2] * (q.shape[3] + v.shape[3])

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
        elif isinstance(module, AttentionProduct):
            handles.append(module.register_forward_hook(attention_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(input_size))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    total = sum(p.numel() for p in model.parameters())
    bn = sum(p.numel() for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
             for p in m.parameters(recurse=False))
    return {"macs": macs // input_size[0], "params": total - bn, "params_with_bn": total}
