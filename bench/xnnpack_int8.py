"""Does XNNPACK's INT8 beat its fp32 on this CPU? torchvision's model through the plain ExecuTorch recipe.

Independent of our exporter: torchvision's ``--model`` (random weights) is captured with
``torch.export``, quantized with the ``XNNPACKQuantizer`` (symmetric int8, per-channel weights, and
per-tensor weights as a second INT8 case), lowered with ``to_edge_transform_and_lower`` and the
``XnnpackPartitioner``, and the three programs are timed in one process in interleaved rounds at
``--threads``. If INT8 is no faster here, the ratio in bench/edge.py is the CPU's, not our graphs'.

Run: ``python bench/xnnpack_int8.py --model mobilenet_v2 --threads 1`` (needs the executorch extra).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch


def lowered(module: torch.nn.Module, example: tuple[torch.Tensor, ...], path: Path) -> Path:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    program = to_edge_transform_and_lower(torch.export.export(module, example), partitioner=[XnnpackPartitioner()])
    path.write_bytes(program.to_executorch().buffer)
    return path


def quantized(model: torch.nn.Module, example: tuple[torch.Tensor, ...], per_channel: bool) -> torch.nn.Module:
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                         get_symmetric_quantization_config)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=per_channel))
    prepared = prepare_pt2e(torch.export.export(model, example).module(), quantizer)
    generator = torch.Generator().manual_seed(0)
    for _ in range(8):
        prepared(torch.randn(example[0].shape, generator=generator))
    return convert_pt2e(prepared)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mobilenet_v2", help="a torchvision classification model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    import torchvision

    from edge import cpu_flags  # bench/edge.py, beside this script
    from mobilenet.export.bench import time_calls
    from mobilenet.export.executorch import Loaded, set_threads

    torch.set_num_threads(args.threads)
    set_threads(args.threads)  # before any program loads
    model = getattr(torchvision.models, args.model)(weights=None).eval()
    example = (torch.randn(1, 3, 224, 224),)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        programs = {
            "fp32": lowered(model, example, Path(folder) / "fp32.pte"),
            "int8 per-channel": lowered(quantized(model, example, True), example, Path(folder) / "int8_pc.pte"),
            "int8 per-tensor": lowered(quantized(model, example, False), example, Path(folder) / "int8_pt.pte"),
        }
        print(f"lowered in {time.perf_counter() - started:.0f}s", file=sys.stderr)
        runners = {name: Loaded(path, args.threads) for name, path in programs.items()}
        calls = {name: (lambda run=run: run(example[0])) for name, run in runners.items()}
        for call in calls.values():
            time_calls(call, warmup=args.calls, runs=0)
        times: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(args.rounds):
            for name, call in calls.items():
                time.sleep(0.2)
                times[name].append(statistics.median(time_calls(call, warmup=3, runs=args.calls)))
    median = {name: 1e3 * statistics.median(values) for name, values in times.items()}
    print(f"{cpu_flags()}; torchvision {args.model}, batch 1, 224x224, {args.threads} threads, medians of "
          f"{args.rounds} interleaved rounds of {args.calls} calls")
    for name, ms in median.items():
        print(f"{name:17s} {ms:7.2f} ms   fp32 / this: {median['fp32'] / ms:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
