"""A float ``.tflite`` file written from one of our models with LiteRT's schema object API (tests only).

It spells layers the ways converters do (hard-swish as one op or as ``x * relu6(x + 3) / 6``,
pooling as ``MEAN`` or ``AVERAGE_POOL_2D``, classifiers as 1x1 convs or ``FULLY_CONNECTED``,
strided convs with an explicit ``PAD``), so the import can be checked on V3 and on float files,
which the team has no real files of. The LiteRT interpreter runs what it writes, so the writer
is checked too.
"""

from __future__ import annotations

import math

import flatbuffers
import numpy as np
import torch
from torch import nn

from mobilenet.blocks import DepthwiseSeparable
from mobilenet.layers.conv import ConvNormAct, tf_same_padding
from mobilenet.weights.tflite_graph import schema

_FUSED = {nn.ReLU: "RELU", nn.ReLU6: "RELU6"}


class Writer:
    def __init__(self, hswish: str = "op", pool: str = "mean", classifier: str = "fc", pad: bool = False) -> None:
        self.s = schema()
        self.hswish_mode, self.pool_mode, self.classifier_mode, self.explicit_pad = hswish, pool, classifier, pad
        self.buffers = [self.s.BufferT()]
        self.tensors: list = []
        self.operators: list = []
        self.codes: dict[int, int] = {}

    # --- graph pieces --------------------------------------------------------------------------
    def tensor(self, shape, data: np.ndarray | None = None, dtype: str = "FLOAT32") -> int:
        t = self.s.TensorT()
        t.shape, t.type, t.name, t.buffer = list(shape), getattr(self.s.TensorType, dtype), f"t{len(self.tensors)}", 0
        if data is not None:
            buffer = self.s.BufferT()
            buffer.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8)
            self.buffers.append(buffer)
            t.buffer = len(self.buffers) - 1
        self.tensors.append(t)
        return len(self.tensors) - 1

    def const(self, value) -> int:
        array = np.asarray(value, dtype=np.float32)
        return self.tensor(array.shape, array)

    def op(self, name: str, inputs, output_shape, options: str | None = None, **fields) -> int:
        code = getattr(self.s.BuiltinOperator, name)
        self.codes.setdefault(code, len(self.codes))
        op = self.s.OperatorT()
        op.opcodeIndex, op.inputs = self.codes[code], list(inputs)
        out = self.tensor(output_shape)
        op.outputs = [out]
        if options:
            holder = getattr(self.s, f"{options}T")()
            for key, value in fields.items():
                setattr(holder, key, value)
            op.builtinOptionsType, op.builtinOptions = getattr(self.s.BuiltinOptions, options), holder
        self.operators.append(op)
        return out

    def shape(self, tensor: int) -> list[int]:
        return list(self.tensors[tensor].shape)

    # --- layers --------------------------------------------------------------------------------
    def hswish(self, x: int) -> int:
        shape = self.shape(x)
        if self.hswish_mode == "op":
            return self.op("HARD_SWISH", [x], shape)
        ramp = self.op("ADD", [x, self.const(3.0)], shape, "AddOptions",
                       fusedActivationFunction=self.s.ActivationFunctionType.RELU6)
        product = self.op("MUL", [x, ramp], shape, "MulOptions")
        return self.op("MUL", [product, self.const(1 / 6)], shape, "MulOptions")

    def conv(self, x: int, weight: torch.Tensor, bias: torch.Tensor, stride: int, dilation: int, act: nn.Module,
             depthwise: bool) -> int:
        n, h, w, _ = self.shape(x)
        kernel = weight.shape[-1]
        padding = self.s.Padding.SAME
        if self.explicit_pad and stride > 1:
            pads = [[0, 0], list(tf_same_padding(h, kernel, stride, dilation)),
                    list(tf_same_padding(w, kernel, stride, dilation)), [0, 0]]
            x = self.op("PAD", [x, self.tensor([4, 2], np.array(pads, dtype=np.int32), "INT32")],
                        [n, h + sum(pads[1]), w + sum(pads[2]), self.shape(x)[3]], "PadOptions")
            padding = self.s.Padding.VALID
        out_shape = [n, math.ceil(h / stride), math.ceil(w / stride), weight.shape[0]]
        fused = getattr(self.s.ActivationFunctionType, _FUSED.get(type(act), "NONE"))
        common = dict(padding=padding, strideH=stride, strideW=stride, dilationHFactor=dilation,
                      dilationWFactor=dilation, fusedActivationFunction=fused)
        if depthwise:
            kernel_data = weight.permute(1, 2, 3, 0).numpy()          # (C, 1, kh, kw) -> (1, kh, kw, C)
            y = self.op("DEPTHWISE_CONV_2D", [x, self.const(kernel_data), self.const(bias.numpy())], out_shape,
                        "DepthwiseConv2DOptions", depthMultiplier=1, **common)
        else:
            kernel_data = weight.permute(0, 2, 3, 1).numpy()          # (out, in, kh, kw) -> (out, kh, kw, in)
            y = self.op("CONV_2D", [x, self.const(kernel_data), self.const(bias.numpy())], out_shape,
                        "Conv2DOptions", **common)
        return self.hswish(y) if isinstance(act, nn.Hardswish) else y

    def unit(self, x: int, unit: ConvNormAct) -> int:
        """Conv + BN folded, as TFLite converters store them."""
        bn, conv = unit.bn, unit.conv
        factor = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        weight = conv.weight * factor.view(-1, 1, 1, 1)
        bias = bn.bias - bn.running_mean * factor
        return self.conv(x, weight.detach(), bias.detach(), conv.stride[0], conv.dilation[0], unit.act,
                         depthwise=conv.groups > 1)

    def pool(self, x: int) -> int:
        n, h, w, c = self.shape(x)
        if self.pool_mode == "mean":
            axes = self.tensor([2], np.array([1, 2], dtype=np.int32), "INT32")
            return self.op("MEAN", [x, axes], [n, 1, 1, c], "ReducerOptions", keepDims=True)
        return self.op("AVERAGE_POOL_2D", [x], [n, 1, 1, c], "Pool2DOptions", padding=self.s.Padding.VALID,
                       strideH=1, strideW=1, filterHeight=h, filterWidth=w)

    def dense(self, x: int, layer: nn.Module, act: nn.Module, mode: str) -> int:
        weight, bias = layer.weight.detach(), layer.bias.detach()
        weight = weight.reshape(weight.shape[0], -1)
        fused = getattr(self.s.ActivationFunctionType, _FUSED.get(type(act), "NONE"))
        if mode == "fc":
            flat = x if len(self.shape(x)) == 2 else self.op(
                "RESHAPE", [x, self.tensor([2], np.array([1, -1], dtype=np.int32), "INT32")], [1, self.shape(x)[-1]])
            y = self.op("FULLY_CONNECTED", [flat, self.const(weight.numpy()), self.const(bias.numpy())],
                        [1, weight.shape[0]], "FullyConnectedOptions", fusedActivationFunction=fused)
        else:
            y = self.op("CONV_2D", [x, self.const(weight.numpy()[:, None, None, :]), self.const(bias.numpy())],
                        [1, 1, 1, weight.shape[0]], "Conv2DOptions", padding=self.s.Padding.SAME, strideH=1,
                        strideW=1, dilationHFactor=1, dilationWFactor=1, fusedActivationFunction=fused)
        return self.hswish(y) if isinstance(act, nn.Hardswish) else y

    def block(self, x: int, block: nn.Module) -> int:
        if isinstance(block, DepthwiseSeparable):
            return self.unit(self.unit(x, block.depthwise), block.pointwise)
        y = x if isinstance(block.expand, nn.Identity) else self.unit(x, block.expand)
        y = self.unit(y, block.depthwise)
        if not isinstance(block.se, nn.Identity):
            pooled = self.pool(y)
            squeezed = self.dense(pooled, block.se.reduce, block.se.act, "conv")
            excited = self.dense(squeezed, block.se.expand, nn.Identity(), "conv")
            ramp = self.op("ADD", [excited, self.const(3.0)], self.shape(excited), "AddOptions",
                           fusedActivationFunction=self.s.ActivationFunctionType.RELU6)
            gate = self.op("MUL", [ramp, self.const(1 / 6)], self.shape(ramp), "MulOptions")
            y = self.op("MUL", [y, gate], self.shape(y), "MulOptions")
        y = self.unit(y, block.project)
        return self.op("ADD", [y, x], self.shape(y), "AddOptions") if block.use_residual else y

    def write(self, model: nn.Module, size: int) -> bytes:
        x = self.tensor([1, size, size, 3])
        y = self.unit(x, model.stem)
        for block in model.blocks:
            y = self.block(y, block)
        if not isinstance(model.last_conv, nn.Identity):
            y = self.unit(y, model.last_conv)
        y = self.pool(y)
        if not isinstance(model.head_conv, nn.Identity):
            y = self.dense(y, model.head_conv, model.head_act, "conv")
        y = self.dense(y, model.classifier, nn.Identity(), self.classifier_mode)
        if len(self.shape(y)) == 4:
            y = self.op("RESHAPE", [y, self.tensor([2], np.array([1, -1], dtype=np.int32), "INT32")],
                        [1, self.shape(y)[-1]])
        graph = self.s.SubGraphT()
        graph.tensors, graph.operators, graph.inputs, graph.outputs = self.tensors, self.operators, [x], [y]
        model_t = self.s.ModelT()
        model_t.version, model_t.description, model_t.subgraphs, model_t.buffers = 3, "test writer", [graph], \
            self.buffers
        codes = sorted(self.codes, key=self.codes.get)
        model_t.operatorCodes = []
        for code in codes:
            entry = self.s.OperatorCodeT()
            entry.builtinCode, entry.deprecatedBuiltinCode, entry.version = code, min(code, 127), 1
            model_t.operatorCodes.append(entry)
        builder = flatbuffers.Builder(0)
        builder.Finish(model_t.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())
