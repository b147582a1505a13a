"""Hard-swish in INT8 LiteRT files (V3 paper §5.2: ``x * relu6(x + 3) / 6``).

LiteRT's converter turns a PT2E ``dequantize -> hardswish -> quantize`` into an int8 ``HARD_SWISH``
(it also recognises the spelled-out ``x * relu6(x + 3) / 6`` and fuses it back). XNNPACK's delegate
has no int8 HARD_SWISH kernel, so an INT8 MobileNetV3 runs as about 20 XNNPACK partitions with
LiteRT's own int8 hard-swish kernel between them. Forms:

- ``float`` (default): after conversion, every int8 ``HARD_SWISH`` becomes ``DEQUANTIZE ->
  HARD_SWISH (float) -> QUANTIZE`` with the same input and output quantization. XNNPACK delegates
  all three, so the whole graph is one partition; hard-swish itself is computed exactly in float,
  as ExecuTorch's XNNPACK lowering does;
- ``native``: the converter's int8 ``HARD_SWISH``, kept as it is.

Which is faster is measured by ``bench/edge.py`` (README, "Phone runtimes").
"""

from __future__ import annotations

from typing import Any

HARD_SWISH_FORMS = ("float", "native")
DEFAULT_HARD_SWISH = "float"


def _opcode(schema: Any, model: Any, name: str, version: int) -> int:
    """The index of builtin operator ``name`` at ``version`` in the model's operator codes (added if missing)."""
    code = getattr(schema.BuiltinOperator, name)
    for index, existing in enumerate(model.operatorCodes):
        if max(existing.builtinCode, existing.deprecatedBuiltinCode) == code and existing.version == version:
            return index
    entry = schema.OperatorCodeT()
    entry.builtinCode, entry.deprecatedBuiltinCode, entry.version = code, min(code, 127), version
    model.operatorCodes.append(entry)
    return len(model.operatorCodes) - 1


def float_hard_swish(flatbuffer: bytes) -> tuple[bytes, int]:
    """``flatbuffer`` with each int8/uint8 ``HARD_SWISH`` as DEQUANTIZE, float HARD_SWISH, QUANTIZE; and
    how many were rewritten. Other ops, tensors and buffers are kept."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    hard_swish = schema.BuiltinOperator.HARD_SWISH
    quantized_types = (schema.TensorType.INT8, schema.TensorType.UINT8)
    rewritten = 0
    for graph in model.subgraphs:
        operators = []
        for op in graph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            source, target = (graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]) if op.inputs else (None, None)
            if (max(code.builtinCode, code.deprecatedBuiltinCode) != hard_swish or source is None
                    or source.type not in quantized_types):
                operators.append(op)
                continue
            floats = []
            for tensor, suffix in ((source, "dequantized"), (target, "float")):
                new = schema.TensorT()
                new.shape, new.type, new.buffer = list(tensor.shape), schema.TensorType.FLOAT32, 0
                new.name = (tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)) + "/" + suffix
                graph.tensors.append(new)
                floats.append(len(graph.tensors) - 1)
            for name, version, inputs, outputs in (("DEQUANTIZE", 2, [op.inputs[0]], [floats[0]]),
                                                   ("HARD_SWISH", 1, [floats[0]], [floats[1]]),
                                                   ("QUANTIZE", 2, [floats[1]], [op.outputs[0]])):
                new_op = schema.OperatorT()
                new_op.opcodeIndex, new_op.inputs, new_op.outputs = _opcode(schema, model, name, version), inputs, outputs
                operators.append(new_op)
            rewritten += 1
        graph.operators = operators
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), rewritten
