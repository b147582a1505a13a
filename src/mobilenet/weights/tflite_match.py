"""Match a TensorFlow Lite graph, layer by layer along its data flow, against the layers we expect.

``GraphWalker`` starts at the graph's input and consumes operators as a caller asks for the next
conv, squeeze-excite, residual add or pooling. Each request says what it expects (a ``Layer``);
the walker describes what the graph holds in the same words and raises ``GraphMismatch``, naming
the operator, when they differ. Converters spell the same network differently, so the walker
accepts every spelling it knows of one layer:

- activations fused into the conv, as a separate op, as ``HARD_SWISH`` or as its decomposition
  ``x * relu6(x + 3) / 6`` (either order of the multiplies), or, in TOCO's uint8 files, implied by
  an output range of exactly [0, 6] (ReLU6);
- "SAME" padding, or an explicit ``PAD`` equal to it followed by a "VALID" conv;
- global pooling as ``MEAN`` over H, W or a full-size ``AVERAGE_POOL_2D``; a classifier as a 1x1
  ``CONV_2D`` or a ``FULLY_CONNECTED`` after ``RESHAPE``/``SQUEEZE``;
- ``QUANTIZE``/``DEQUANTIZE`` between layers (requantization, float16 weights).

Weights come out in PyTorch layouts: conv (out, in, kh, kw), depthwise (C, 1, kh, kw), dense
(out, in); biases as float32 (zeros where the graph has none). Nothing here is specific to
classifiers: detection and segmentation heads can be matched with the same calls.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from mobilenet.layers.conv import tf_same_padding
from mobilenet.weights.tflite_graph import Operator, TFLiteGraph

LayerKind = Literal["conv", "depthwise", "dense"]
_FUSED = {"NONE": "linear", "RELU": "relu", "RELU6": "relu6", "RELU_N1_TO_1": "relu_n1_to_1", "TANH": "tanh",
          "SIGN_BIT": "sign_bit"}
_ACTIVATION_OPS = {"RELU": "relu", "RELU6": "relu6", "HARD_SWISH": "hswish", "LOGISTIC": "sigmoid", "TANH": "tanh"}
_TRANSPARENT = ("QUANTIZE", "DEQUANTIZE")
_FLATTEN = ("RESHAPE", "SQUEEZE")


class GraphMismatch(ValueError):
    """The graph differs from what was expected at operator ``op_index`` (-1: where the graph ends)."""

    def __init__(self, message: str, op_index: int, progress: int) -> None:
        super().__init__(message)
        self.op_index = op_index
        self.progress = progress
        """How many operators matched before the difference (to pick the closest candidate)."""


@dataclass(frozen=True)
class Layer:
    """A conv or dense layer with its activation, in the words both sides share."""

    kind: LayerKind
    in_channels: int
    out_channels: int
    kernel: int = 1
    stride: int = 1
    dilation: int = 1
    act: str = "linear"
    padding: str = "same"
    """``same`` (TF "SAME", also 1x1 stride-1 convs) or the explicit pads that differ from it."""

    def __str__(self) -> str:
        if self.kind == "dense":
            return f"dense {self.in_channels}->{self.out_channels}, {self.act}"
        shape = f"{self.kernel}x{self.kernel} {'depthwise ' if self.kind == 'depthwise' else ''}conv"
        channels = f"{self.in_channels} ch" if self.kind == "depthwise" else f"{self.in_channels}->{self.out_channels}"
        extra = "".join([f", dilation {self.dilation}" if self.dilation != 1 else "",
                         f", padding {self.padding}" if self.padding != "same" else ""])
        return f"{shape} {channels}, stride {self.stride}{extra}, {self.act}"


@dataclass(frozen=True)
class Found:
    """A matched layer: the graph op, its weights in PyTorch layout, the tensor after its activation."""

    op: Operator
    layer: Layer
    weight: np.ndarray
    bias: np.ndarray
    output: int


class GraphWalker:
    """Consumes a graph's operators along the data flow; see the module docstring."""

    def __init__(self, graph: TFLiteGraph, subject: str) -> None:
        self.graph = graph
        self.subject = subject
        """What the graph is matched against, for messages (``mobilenet_v2``)."""
        self.used: set[int] = set()
        if len(graph.inputs) != 1:
            self.fail(None, "one input tensor", f"{len(graph.inputs)} inputs")

    # --- bookkeeping ---------------------------------------------------------------------------
    def fail(self, op: Operator | None, expected: str, found: str) -> None:
        where = f"op {op.index} ({op.type})" if op is not None else "the end of the graph"
        raise GraphMismatch(f"{self.graph.path}: {where} does not match {self.subject}: expected {expected}; "
                            f"found {found}", op.index if op is not None else -1, len(self.used))

    def fail_after(self, tensor: int, expected: str) -> None:
        """A mismatch at the next op reading ``tensor`` (or at its producer when none does)."""
        following = self._open(tensor)
        if following:
            self.fail(following[0], expected, self.graph.describe(following[0]))
        self.fail(self.graph.producer(tensor), expected, f"nothing further reads tensor {tensor}")

    def _open(self, tensor: int) -> list[Operator]:
        return [op for op in self.graph.consumers(tensor) if op.index not in self.used]

    def _take(self, op: Operator) -> Operator:
        self.used.add(op.index)
        return op

    def through(self, tensor: int, kinds: tuple[str, ...] = _TRANSPARENT) -> int:
        """Follow single-consumer ops of ``kinds`` (requantization) from ``tensor``."""
        while len(following := self._open(tensor)) == 1 and following[0].type in kinds:
            tensor = self._take(following[0]).outputs[0]
        return tensor

    def root(self, tensor: int) -> int:
        """The tensor before any requantization or reshape that produced ``tensor``."""
        while (op := self.graph.producer(tensor)) is not None and op.type in _TRANSPARENT + _FLATTEN:
            tensor = op.inputs[0]
        return tensor

    def next_op(self, tensor: int, types: tuple[str, ...], expected: str) -> Operator:
        """The next unused op of one of ``types`` reading ``tensor``; a mismatch naming what is there."""
        candidates = self._open(tensor)
        for op in candidates:
            if op.type in types:
                return self._take(op)
        self.fail_after(tensor, expected)
        raise AssertionError("fail_after() raises")

    def _scalar(self, index: int) -> float | None:
        tensor = self.graph.tensors[index]
        if tensor.is_constant and int(np.prod(tensor.shape or (1,))) == 1:
            return float(self.graph.constant(index).reshape(-1)[0])
        return None

    def _other_input(self, op: Operator, tensor: int) -> int:
        others = [i for i in op.inputs if i != tensor]
        return others[0] if others else tensor

    def start(self) -> int:
        """The graph's input tensor (after any QUANTIZE)."""
        return self.through(self.graph.inputs[0])

    # --- activations ---------------------------------------------------------------------------
    def _relu6_by_range(self, tensor: int) -> bool:
        q = self.graph.tensors[tensor].quantization
        if q is None or q.scale.size != 1:
            return False
        low = {"UINT8": 0, "INT8": -128}.get(self.graph.tensors[tensor].dtype)
        return low is not None and int(q.zero_point[0]) == low and abs(float(q.scale[0]) * 255 - 6.0) < 0.06

    def _const_op(self, tensor: int, types: tuple[str, ...], value: float) -> Operator | None:
        for op in self._open(tensor):
            constant = self._scalar(self._other_input(op, tensor)) if op.type in types else None
            if constant is not None and abs(constant - value) <= 0.02 * max(abs(value), 1.0):
                return op
        return None

    def _scaled_by_sixth(self, tensor: int) -> Operator | None:
        return self._const_op(tensor, ("MUL",), 1 / 6) or self._const_op(tensor, ("DIV",), 6.0)

    def _relu6_plus_3(self, tensor: int) -> tuple[list[Operator], int] | None:
        """``relu6(t + 3)``: an ADD of 3 with ReLU6 fused, as an op, or as its output range."""
        add = self._const_op(tensor, ("ADD",), 3.0)
        if add is None:
            return None
        ops, out = [add], add.outputs[0]
        if add.options.get("fused_activation_function") != "RELU6":
            relu = [op for op in self._open(out) if op.type == "RELU6"]
            if relu:
                ops.append(relu[0])
                out = relu[0].outputs[0]
            elif not self._relu6_by_range(out):
                return None
        return ops, out

    def _hard_swish(self, tensor: int) -> int | None:
        """The output of ``t * relu6(t + 3) / 6`` spelled out in ops, consuming them; else None."""
        ramp = self._relu6_plus_3(tensor)
        if ramp is None:
            return None
        ops, r = ramp
        pair = [op for op in self._open(tensor) if op.type == "MUL" and set(op.inputs) == {tensor, r}]
        if pair:                                  # (t * r) / 6
            sixth = self._scaled_by_sixth(pair[0].outputs[0])
            chain = [*ops, pair[0], sixth]
        else:                                     # t * (r / 6)
            sixth = self._scaled_by_sixth(r)
            mul = sixth and [op for op in self._open(tensor) if op.type == "MUL"
                             and set(op.inputs) == {tensor, sixth.outputs[0]}]
            chain = [*ops, sixth, mul[0] if mul else None]
        if any(op is None for op in chain):
            return None
        for op in chain:
            self._take(op)
        return chain[-1].outputs[0]

    def hard_sigmoid(self, tensor: int) -> int | None:
        """The output of ``relu6(t + 3) / 6`` (V3's gate), consuming its ops; else None."""
        ramp = self._relu6_plus_3(tensor)
        sixth = ramp and self._scaled_by_sixth(ramp[1])
        if not ramp or not sixth:
            return None
        for op in [*ramp[0], sixth]:
            self._take(op)
        return sixth.outputs[0]

    def activation(self, op: Operator) -> tuple[str, int]:
        """The activation after ``op`` (consumed) and the tensor it produces."""
        fused = op.options.get("fused_activation_function", "NONE")
        out = op.outputs[0]
        if fused != "NONE":
            return _FUSED.get(fused, fused.lower()), out
        out = self.through(out)
        following = self._open(out)
        if len(following) == 1 and following[0].type in _ACTIVATION_OPS:
            return _ACTIVATION_OPS[self._take(following[0]).type], following[0].outputs[0]
        swished = self._hard_swish(out)
        if swished is not None:
            return "hswish", swished
        return ("relu6" if self._relu6_by_range(out) else "linear"), out

    # --- layers --------------------------------------------------------------------------------
    def _padding(self, pads: np.ndarray | None, op: Operator, layer: Layer, size: tuple[int, int]) -> str:
        if pads is None and op.options.get("padding", "SAME") == "SAME":
            return "same"
        explicit = tuple(int(v) for v in (pads[1:3].reshape(-1) if pads is not None else np.zeros(4)))
        same = tuple(p for axis in size for p in tf_same_padding(axis, layer.kernel, layer.stride, layer.dilation))
        no_pad_needed = layer.kernel == 1 and layer.stride == 1
        return "same" if explicit == same or (no_pad_needed and not any(explicit)) else f"explicit {explicit}"

    def conv(self, tensor: int, expected: Layer, what: str) -> Found:
        """The next conv (``kind`` conv or depthwise) with its activation; must equal ``expected``."""
        wanted = "DEPTHWISE_CONV_2D" if expected.kind == "depthwise" else "CONV_2D"
        description = f"{what}: {expected}"
        tensor = self.through(tensor)
        op = self.next_op(tensor, (wanted, "PAD"), description)
        pads = None
        if op.type == "PAD":
            pads = self.graph.constant(op.inputs[1]).reshape(-1, 2)
            op = self.next_op(self.through(op.outputs[0]), (wanted,), description)
        shape = self.graph.tensors[tensor].shape  # before any PAD
        weight = self.weight(op, 1)
        if op.type == "DEPTHWISE_CONV_2D":
            weight = weight.transpose(3, 0, 1, 2)          # (1, kh, kw, C*m) -> (C*m, 1, kh, kw)
        else:
            weight = weight.transpose(0, 3, 1, 2)          # (out, kh, kw, in) -> (out, in, kh, kw)
        options = op.options
        if len(shape) != 4 or weight.shape[2] != weight.shape[3] or options.get("stride_h") != options.get(
                "stride_w") or options.get("dilation_h_factor", 1) != options.get("dilation_w_factor", 1) or (
                op.type == "CONV_2D" and weight.shape[1] != shape[-1]):
            self.fail(op, description, f"a conv unlike ours (not square, or grouped): {self.graph.describe(op)}")
        act, out = self.activation(op)
        layer = Layer(expected.kind, int(shape[-1]), int(weight.shape[0]), int(weight.shape[2]),
                      int(options.get("stride_h", 1)), int(options.get("dilation_h_factor", 1)), act)
        layer = replace(layer, padding=self._padding(pads, op, layer, (shape[1], shape[2])))
        if layer != expected:
            self.fail(op, description, str(layer))
        return Found(op, layer, weight, self.bias(op, layer.out_channels), out)

    def dense(self, tensor: int, expected: Layer, what: str) -> Found:
        """A 1x1 ``CONV_2D`` on a pooled map or a ``FULLY_CONNECTED`` (after reshapes), with activation."""
        description = f"{what}: {expected}"
        tensor = self.through(tensor, _TRANSPARENT + _FLATTEN)
        op = self.next_op(tensor, ("CONV_2D", "FULLY_CONNECTED"), description)
        weight = self.weight(op, 1)
        if op.type == "CONV_2D":
            if weight.shape[1:3] != (1, 1):
                self.fail(op, description, f"a {weight.shape[1]}x{weight.shape[2]} conv")
            weight = weight.reshape(weight.shape[0], weight.shape[3])
        act, out = self.activation(op)
        layer = Layer("dense", int(weight.shape[1]), int(weight.shape[0]), act=act)
        if layer != expected:
            self.fail(op, description, str(layer))
        return Found(op, layer, weight, self.bias(op, layer.out_channels), out)

    def weight(self, op: Operator, position: int) -> np.ndarray:
        """A constant input of ``op``, dequantized (through a DEQUANTIZE op for float16 weights)."""
        index = op.inputs[position]
        producer = self.graph.producer(index)
        if producer is not None and producer.type == "DEQUANTIZE" and not self.graph.tensors[index].is_constant:
            self._take(producer)
            index = producer.inputs[0]
        if not self.graph.tensors[index].is_constant:
            self.fail(op, "constant weights", f"input {position} computed at run time")
        return self.graph.constant(index)

    def bias(self, op: Operator, channels: int) -> np.ndarray:
        if len(op.inputs) < 3 or op.inputs[2] < 0:
            return np.zeros(channels, dtype=np.float32)
        return self.weight(op, 2).reshape(-1)

    def add(self, tensor: int, skip: int, what: str) -> int:
        """The residual ``ADD`` of ``tensor`` and ``skip`` (no activation); its output."""
        tensor = self.through(tensor)
        op = self.next_op(tensor, ("ADD",), f"{what}: a residual add")
        other = self._other_input(op, tensor)
        if self.root(other) != self.root(skip) or op.options.get("fused_activation_function", "NONE") != "NONE":
            self.fail(op, f"{what}: a residual add of the block input", self.graph.describe(op))
        return op.outputs[0]

    def multiply(self, tensor: int, gate: int, what: str) -> int:
        """The ``MUL`` of ``tensor`` by ``gate`` (squeeze-excite); its output."""
        op = self.next_op(tensor, ("MUL",), f"{what}: the gate multiply")
        if self.root(self._other_input(op, tensor)) != self.root(gate):
            self.fail(op, f"{what}: a multiply by the gate", self.graph.describe(op))
        return op.outputs[0]

    def global_pool(self, tensor: int, what: str) -> int:
        """``MEAN`` over H and W, or an ``AVERAGE_POOL_2D`` as large as the map; its output."""
        tensor = self.through(tensor)
        op = self.next_op(tensor, ("MEAN", "AVERAGE_POOL_2D"), f"{what}: a global average pool")
        shape = self.graph.tensors[tensor].shape
        if op.type == "MEAN":
            ok = sorted(int(a) % 4 for a in self.graph.constant(op.inputs[1]).reshape(-1)) == [1, 2]
        else:
            ok = (op.options.get("filter_height"), op.options.get("filter_width")) == tuple(shape[1:3])
        if not ok:
            self.fail(op, f"{what}: a global average pool", self.graph.describe(op))
        return op.outputs[0]

    def finish(self, tensor: int, what: str) -> None:
        """Reshapes, softmax and requantization up to a graph output, then no operator left over."""
        tensor = self.through(tensor, _TRANSPARENT + _FLATTEN + ("SOFTMAX",))
        if tensor not in self.graph.outputs:
            following = self._open(tensor)
            self.fail(following[0] if following else None, f"{what} to be the graph's output",
                      self.graph.describe(following[0]) if following else f"tensor {tensor}, not an output")
        for op in self.graph.operators:
            if op.index not in self.used:
                self.fail(op, "no further operators", self.graph.describe(op))
