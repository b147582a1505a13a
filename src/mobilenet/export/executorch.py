"""ExecuTorch files (``.pte``): ``torch.export``, XNNPACK lowering, PT2E INT8, checked with the ExecuTorch runtime.

``pip install 'mobilenet[executorch]'``. The program is lowered with ``to_edge_transform_and_lower``
and the ``XnnpackPartitioner``; INT8 quantizes with ExecuTorch's ``XNNPACKQuantizer`` (int8 weights
per output channel, int8 activations per tensor; ``export.pt2e``). Files take NCHW float images
(batch fixed, 1 by default) normalised as the metadata says; the forward method's outputs are named
as the model's (``logits``; a task model's ``output_names``) in the program's output spec.

Metadata: a constant method ``mobilenet_metadata`` returns our JSON record (ExecuTorch's way of
storing configuration in a program, as its LLM exports store ``get_max_seq_len``).

Runtime traps handled here: the XNNPACK thread pool is process-wide and a method captures it when it
loads, so it is sized before any method loads (``set_threads``), and a method loaded under another
size is refused instead of running on a freed pool; outputs may alias the method's planned memory,
so they are copied.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mobilenet.export.edge import EdgeExportReport, Predictor, export_edge, native_output
from mobilenet.extras import require
from mobilenet.sources import ModelSource

SUFFIX = ".pte"
METADATA_METHOD = "mobilenet_metadata"

_pool = {"threads": None, "generation": 0}
"""The size of ExecuTorch's process-wide thread pool, and how often it was re-made."""


def _portable_lib() -> Any:
    return require("executorch.extension.pybindings.portable_lib", "the ExecuTorch runtime")


def set_threads(threads: int | None) -> int:
    """Size ExecuTorch's thread pool (None: leave it); returns the pool's generation. Methods loaded
    before a resize hold the old pool, so they are not run afterwards (``Loaded`` checks)."""
    lib = _portable_lib()
    if _pool["threads"] is None:
        _pool["threads"] = int(lib._threadpool_get_thread_count())
    if threads and threads != _pool["threads"]:
        lib._unsafe_reset_threadpool(int(threads))
        _pool["threads"], _pool["generation"] = int(threads), int(_pool["generation"]) + 1
    return int(_pool["generation"])


def _program(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ExecuTorch file {str(path)!r} does not exist")
    raw = path.read_bytes()
    if len(raw) < 8 or raw[4:8] != b"ET12":
        raise ValueError(f"{str(path)!r} is not an ExecuTorch program (no 'ET12' identifier); export one with "
                         "`mobilenet export --format executorch`")
    runtime = require("executorch.runtime", "the ExecuTorch runtime").Runtime.get()
    try:
        with native_output():  # the loader's own log lines: the error below says it in one line
            return runtime.load_program(raw)
    except Exception as error:  # RuntimeError from the C++ loader for truncated or corrupt files
        raise ValueError(f"ExecuTorch cannot load {str(path)!r} (truncated or corrupt?): "
                         f"{(str(error).strip().splitlines() or [''])[0][:160]}") from None


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Our metadata record of an exported ``.pte`` file (empty for programs we did not write)."""
    program = _program(path)
    if METADATA_METHOD not in program.method_names:
        return {}
    value = program.load_method(METADATA_METHOD).execute([])
    try:
        return dict(json.loads(value[0]))
    except (IndexError, TypeError, ValueError):
        raise ValueError(f"{str(path)!r} has a corrupt {METADATA_METHOD!r} method; re-export it") from None


class Loaded:
    """The forward method of a program, loaded under the current thread pool."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        self.generation = set_threads(threads)
        program = _program(path)
        if "forward" not in program.method_names:
            raise ValueError(f"{str(path)!r} has no forward method; methods: {', '.join(sorted(program.method_names))}")
        try:
            self.method = program.load_method("forward")
        except Exception as error:
            raise ValueError(f"ExecuTorch cannot load the forward method of {str(path)!r}: "
                             f"{(str(error).strip().splitlines() or [''])[0][:160]}") from None
        self.program, self.path = program, Path(path)

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.generation != _pool["generation"]:
            raise RuntimeError(f"{self.path} was loaded before ExecuTorch's thread pool was resized; load it again")
        return [t.clone() if isinstance(t, torch.Tensor) else t for t in self.method.execute([x])]


def predictor(path: str | Path, threads: int | None = None) -> Predictor:
    """NCHW float images -> ``{output name: array}`` (names from the file's metadata, else ``output_i``)."""
    loaded = Loaded(path, threads)
    names = read_metadata(path).get("outputs")

    def predict(x: np.ndarray) -> dict[str, np.ndarray]:
        outputs = loaded(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
        keys = names if names and len(names) == len(outputs) else [f"output_{i}" for i in range(len(outputs))]
        return {key: t.numpy() for key, t in zip(keys, outputs)}

    return predict


def output_spec_names(path: str | Path) -> list[str]:
    """The output names in the program's output spec (the keys of the dict ``forward`` returned)."""
    from executorch.exir._serialize._program import deserialize_pte_binary
    from torch.utils import _pytree

    program = deserialize_pte_binary(Path(path).read_bytes())
    program = getattr(program, "program", program)
    plan = next(p for p in program.execution_plan if p.name == "forward")
    spec = _pytree.treespec_loads(plan.container_meta_type.encoded_out_str)
    return [str(key) for key in (spec.context or [])]


def delegation(path: str | Path, graph: Any = None) -> dict[str, Any]:
    """Which ops XNNPACK took: delegated partitions and the ops left to ExecuTorch's portable kernels."""
    if graph is None:
        return {}
    from executorch.devtools.backend_debug import get_delegation_info

    info = get_delegation_info(graph)
    outside = {}
    for row in info.get_operator_delegation_dataframe().itertuples(index=False):
        if row.op_type != "Total" and row.occurrences_in_non_delegated_graphs:
            outside[row.op_type] = int(row.occurrences_in_non_delegated_graphs)
    return {"xnnpack_partitions": int(info.num_delegated_subgraphs), "delegated_nodes": int(info.num_delegated_nodes),
            "outside_ops": outside}


class ExecuTorchFormat:
    name = "ExecuTorch"
    channels_last = False
    fold_weights = True

    def __init__(self) -> None:
        self._graph = None

    def quantizer(self, qat: bool, method: str) -> Any:
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                             get_symmetric_quantization_config)

        from mobilenet.export.pt2e import with_observer

        config = get_symmetric_quantization_config(is_per_channel=True, is_qat=qat)
        return XNNPACKQuantizer().set_global(config if qat else with_observer(config, method))

    def lower(self, module: torch.nn.Module, example: torch.Tensor, quantized: bool, record: dict[str, Any]) -> bytes:
        require("executorch", "ExecuTorch export")
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower

        try:
            program = torch.export.export(module, (example,))
            edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()],
                                               constant_methods={METADATA_METHOD: json.dumps(record)})
            self._graph = edge.exported_program().graph_module
            return bytes(edge.to_executorch().buffer)
        except Exception as error:  # export and lowering fail in many ways: one line naming the error
            first = (str(error).strip().splitlines() or [""])[0][:200]
            raise ValueError(f"ExecuTorch cannot lower this model ({type(error).__name__}: {first})") from None

    def load(self, path: Path, threads: int | None = None) -> Predictor:
        names = output_spec_names(path)
        expected = read_metadata(path).get("outputs")
        if names != expected:
            from mobilenet.export.signature import ExportCheckError

            raise ExportCheckError(f"the ExecuTorch program names its outputs {names}, the model {expected}")
        return predictor(path, threads)

    def inspect(self, path: Path) -> dict[str, Any]:
        return delegation(path, self._graph)


def export_executorch(source: ModelSource, path: str | Path, precision: str = "fp32", **options: Any) -> EdgeExportReport:
    """Export ``source`` to a ``.pte`` file (``options``: those of ``export.edge.export_edge``)."""
    require("executorch", "ExecuTorch export")
    return export_edge(ExecuTorchFormat(), source, path, precision, **options)


def executorch_runner(source: ModelSource | None, path: Path | None, batch: int, resolution: int,
                      threads: int | None) -> Any:
    """One timed forward on a fixed random input (the file's own batch and size)."""
    loaded = Loaded(path, threads)
    meta = loaded.program.metadata("forward")
    shape = tuple(meta.input_tensor_meta(0).sizes())
    x = torch.from_numpy(np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    # the closure holds ``loaded``: a method whose program was garbage-collected reads freed memory
    return lambda: loaded.method.execute([x])
