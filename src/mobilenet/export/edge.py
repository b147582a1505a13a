"""One export flow for the on-device runtimes (LiteRT, ExecuTorch): fold, quantize, lower, check, write.

Each runtime is an ``EdgeFormat``: its input layout, its PT2E quantizer, how a ``torch.export``-able
module becomes the file's bytes (metadata included), and how the file is run again to check it.
The flow is the same for both:

1. the BN-folded model's export form (``export_module``), wrapped so its outputs carry their names;
2. for INT8, PT2E post-training calibration on the user's images, or quantization-aware fine-tuning
   (``export.pt2e``);
3. lowering to the file, written to a temporary path;
4. the file run by the runtime's own interpreter, every output compared by name with PyTorch on random
   inputs and on real images: the float model for fp32 (to ``TOLERANCE``), the PT2E reference graph
   for INT8 (to ``INT8_TOLERANCE`` of its output range over all the checked inputs: integer kernels round differently);
5. only then moved into place (``atomic_path``).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import numpy as np
import torch

from mobilenet.export.fuse import fold_batch_norm
from mobilenet.export.images import list_images, load_images
from mobilenet.export.signature import (ExportCheckError, NamedOutputs, compare_outputs, export_module,
                                        metadata_record, output_names, torch_outputs)
from mobilenet.files import atomic_path
from mobilenet.sources import ModelSource

TOLERANCE = 1e-4
"""fp32: the largest absolute difference allowed between the runtime and PyTorch (as for ONNX)."""
INT8_TOLERANCE = 0.1
"""INT8: the largest difference from the PT2E reference graph, as a fraction of that output's range."""
PRECISIONS = ("fp32", "int8")

Predictor = Callable[[np.ndarray], dict[str, np.ndarray]]
"""A loaded file: a batch of images in NCHW float (as PyTorch takes them) -> ``{output name: array}``."""


@contextlib.contextmanager
def native_output() -> Iterator[io.StringIO]:
    """Capture what native code (the converter, the interpreter) prints to stdout/stderr; yields the text
    once the block ends. LiteRT logs its XNNPACK delegation there and nowhere else; ExecuTorch its loader's
    complaints about a bad file."""
    captured = io.StringIO()
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = [os.dup(1), os.dup(2)]
        for stream in (1, 2):
            os.dup2(sink.fileno(), stream)
        try:
            # bindings that log through Python's sys.stdout/sys.stderr (ExecuTorch's loader) rather than the
            # file descriptors: those objects are not fd 1/2 when something (a test, a notebook) replaced them
            with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
                yield captured
        finally:
            for stream, fd in zip((1, 2), saved):
                os.dup2(fd, stream)
                os.close(fd)
            sink.seek(0)
            captured.write(sink.read().decode(errors="replace"))


class EdgeFormat(Protocol):
    name: str
    """The runtime's name in messages (``LiteRT``)."""
    channels_last: bool
    """Whether the file takes NHWC images (LiteRT) rather than NCHW (ExecuTorch)."""
    fold_weights: bool
    """Whether INT8 weights reach the lowering as int8 constants (``pt2e.quantize``)."""

    def quantizer(self, qat: bool, method: str) -> Any:
        """The runtime's PT2E quantizer: per-channel symmetric int8 weights, int8 activations."""

    def lower(self, module: torch.nn.Module, example: torch.Tensor, quantized: bool,
              record: dict[str, Any]) -> bytes:
        """The file's bytes for ``module`` (already quantized when ``quantized``), ``record`` inside."""

    def load(self, path: Path, threads: int | None = None) -> Predictor:
        """The file, loaded by the runtime's interpreter."""

    def inspect(self, path: Path) -> dict[str, Any]:
        """What the runtime made of the file: ops, delegated partitions."""


@dataclass
class EdgeExportReport:
    """What was written and how well it matches PyTorch."""

    path: str
    runtime: str
    precision: str
    resolution: int
    batch: int
    size_bytes: int
    diff_random: float
    diff_real: float | None
    real_images: int
    top1_agreement: float | None = None
    """INT8: the share of real images whose top-1 equals the float model's (classifiers)."""
    details: dict[str, Any] = field(default_factory=dict)
    """The runtime's view of the file (``EdgeFormat.inspect``): ops, XNNPACK partitions."""


class Layout(torch.nn.Module):
    """NHWC images in, as LiteRT files take them; the model inside stays NCHW."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, input: torch.Tensor) -> Any:  # noqa: A002  (the file's input name)
        return self.module(input.permute(0, 3, 1, 2))


def exported_form(fmt: EdgeFormat, model: torch.nn.Module,
                  postprocess: bool) -> Callable[[torch.nn.Module], torch.nn.Module]:
    """``wrap(folded) -> module``: the export form in the runtime's layout, with named outputs."""
    names = output_names(export_module(model, postprocess))

    def wrap(folded: torch.nn.Module) -> torch.nn.Module:
        module = NamedOutputs(export_module(folded, postprocess), names).eval()
        return Layout(module).eval() if fmt.channels_last else module

    return wrap


def _fed(fmt: EdgeFormat, x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 3, 1).contiguous() if fmt.channels_last else x


def _feed_batches(x: torch.Tensor, batch: int) -> list[torch.Tensor]:
    """``x`` in slices of the file's fixed batch (the last one padded by repeating its last image)."""
    out = []
    for start in range(0, len(x), batch):
        part = x[start:start + batch]
        if len(part) < batch:
            part = torch.cat([part, part[-1:].expand(batch - len(part), *part.shape[1:])])
        out.append(part)
    return out


def _in_batches(run: Predictor, x: torch.Tensor, batch: int) -> dict[str, np.ndarray]:
    """``run`` on any number of NCHW images, fed in slices of the fixed ``batch``; outputs joined."""
    parts = [run(chunk) for chunk in _feed_batches(x, batch)]
    return {name: np.concatenate([p[name] for p in parts])[:len(x)] for name in parts[0]}


def run_file(predict: Predictor, x: torch.Tensor, batch: int) -> dict[str, np.ndarray]:
    """The loaded file on any number of images (NCHW), in its fixed batch."""
    return _in_batches(lambda chunk: predict(chunk.numpy()), x, batch)


def _reference(fmt: EdgeFormat, module: torch.nn.Module, x: torch.Tensor, batch: int,
               names: list[str]) -> dict[str, np.ndarray]:
    return _in_batches(lambda chunk: torch_outputs(module, _fed(fmt, chunk), names), x, batch)


def _int8_difference(got: dict[str, np.ndarray], expected: dict[str, np.ndarray], runtime: str,
                     spans: dict[str, float]) -> float:
    """The largest difference of any output as a fraction of ``spans[name]``, that output's range."""
    compare_outputs(got, expected, runtime)  # names and shapes
    worst = 0.0
    for name, b in expected.items():
        if b.size:
            worst = max(worst, float(np.abs(got[name] - b).max()) / max(spans[name], 1e-6))
    return worst


def _spans(*references: dict[str, np.ndarray]) -> dict[str, float]:
    """Each output's range over every checked input: a two-class head on one input spans only the gap
    between its two logits, too small a yardstick for rounding differences."""
    return {name: float(np.ptp(np.concatenate([r[name].ravel() for r in references])))
            for name in references[0]}


def export_edge(fmt: EdgeFormat, source: ModelSource, path: str | Path, precision: str = "fp32",
                resolution: int | None = None, batch: int = 1, calib: str | Path | None = None,
                calib_method: str = "histogram", calib_limit: int = 128, check_images: str | Path | None = None,
                check_limit: int = 8, qat_epochs: int = 0, qat_data: str | Path | None = None, qat_lr: float = 0.005,
                postprocess: bool = False, log: Callable[[str], None] = print) -> EdgeExportReport:
    """Export ``source`` to ``path`` in ``fmt`` (see the module docstring); nothing is written when the
    file does not reproduce PyTorch."""
    from mobilenet.export import pt2e

    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise ValueError(f"{fmt.name} files have a fixed batch: a positive integer, got {batch!r}")
    if precision == "int8" and calib is None:
        raise ValueError(f"{fmt.name} INT8 needs calibration images: a folder of representative images")
    if qat_epochs and precision != "int8":
        raise ValueError("quantization-aware training only applies to INT8")
    source = source.at_resolution(resolution or source.resolution)
    pre, resolution = source.preprocessing, source.resolution
    channels = int(getattr(source.model, "in_chans", 3))
    names = output_names(export_module(source.model, postprocess))
    wrap = exported_form(fmt, source.model, postprocess)
    generator = torch.Generator().manual_seed(0)
    random_input = torch.randn(batch, channels, resolution, resolution, generator=generator)
    example = _fed(fmt, random_input)
    real = load_images(list_images(check_images, "check-images folder")[:check_limit], pre) \
        if check_images and channels == 3 else None

    float_module = wrap(fold_batch_norm(source.model))
    extra: dict[str, Any] = {"batch": batch, "postprocess": postprocess, "layout": "NHWC" if fmt.channels_last
                             else "NCHW", "runtime": fmt.name}
    if precision == "int8":
        assert calib is not None
        batches = [_fed(fmt, b) for b in pt2e.calibration_batches(calib, source, resolution, calib_limit, batch)]
        if qat_epochs:
            module = pt2e.quantize_aware(source, wrap, example, fmt.quantizer(True, calib_method), batches,
                                         qat_data or calib, qat_epochs, lr=qat_lr, channels_last=fmt.channels_last,
                                         fold_weights=fmt.fold_weights, log=log)
        else:
            module = pt2e.quantize(float_module, example, fmt.quantizer(False, calib_method), batches,
                                   fold_weights=fmt.fold_weights)
        extra["quantization"] = {"scheme": "PT2E", "weights": "int8 per-channel symmetric",
                                 "activations": "int8 per-tensor", "calibration": calib_method,
                                 "calibration_images": sum(len(b) for b in batches), "qat_epochs": qat_epochs}
    else:
        module = float_module
    record = metadata_record(source, extra)
    record["preprocessing"]["layout"] = extra["layout"]
    with atomic_path(path) as temp:
        Path(temp).write_bytes(fmt.lower(module, example, precision == "int8", record))
        predict = fmt.load(Path(temp))
        inputs = [random_input] + ([real] if real is not None else [])
        checks = [(run_file(predict, x, batch), _reference(fmt, module, x, batch, names)) for x in inputs]
        agreement = None
        if precision == "fp32":
            diffs, limit = [compare_outputs(got, expected, fmt.name) for got, expected in checks], TOLERANCE
        else:
            spans = _spans(*(expected for _, expected in checks))
            diffs = [_int8_difference(got, expected, fmt.name, spans) for got, expected in checks]
            limit = INT8_TOLERANCE
            if real is not None and source.model.config.task == "classification":
                got_real, float_real = checks[1][0], _reference(fmt, float_module, real, batch, names)
                agreement = float(np.mean(got_real[names[0]].argmax(1) == float_real[names[0]].argmax(1)))
        diff_random, diff_real, worst = diffs[0], (diffs[1] if real is not None else None), max(diffs)
        if not worst <= limit:
            what = "differs from PyTorch by" if precision == "fp32" else "differs from the PT2E reference by"
            raise ExportCheckError(f"the {fmt.name} file {what} {worst:.2e} (> {limit:.0e}"
                                   f"{'' if precision == 'fp32' else ' of the output range'}); file not written")
        details = fmt.inspect(Path(temp))
    return EdgeExportReport(str(path), fmt.name, precision, resolution, batch, Path(path).stat().st_size, diff_random,
                            diff_real, 0 if real is None else len(real), agreement, details)


def file_accuracy(runtime: str, path: str | Path, folder: str | Path, threads: int | None = None) -> Any:
    """Top-1 (``export.accuracy.Accuracy``) of an exported LiteRT or ExecuTorch file on
    ``folder/<class>/<image>``, with the preprocessing, class names and batch stored in the file."""
    from mobilenet.export.accuracy import accuracy

    model = EdgeModel(runtime, path, threads)
    first = model.output_names[0]
    return accuracy(lambda x: run_file(model.predict, torch.from_numpy(x), model.batch)[first], folder,
                    model.metadata["preprocessing"], model.metadata.get("class_names") or ())

class EdgeModel(torch.nn.Module):
    """An exported LiteRT or ExecuTorch file behind PyTorch's module interface (as ``onnx.OnnxModel``),
    so ``eval`` runs it like the model it came from: ``forward`` takes NCHW float images of any
    number (fed in the file's fixed batch) and returns its outputs as tensors (one tensor, or a tuple
    in the metadata's output order); ``metadata`` is the record stored in the file."""

    def __init__(self, runtime: str, path: str | Path, threads: int | None = None) -> None:
        from mobilenet.export.runtimes import get_runtime

        super().__init__()
        entry = get_runtime(runtime)
        if entry.predictor is None or entry.metadata is None:
            raise ValueError(f"runtime {runtime!r} does not run LiteRT or ExecuTorch files")
        self.path = str(path)
        self.metadata = entry.metadata(Path(path))
        if "preprocessing" not in self.metadata or not self.metadata.get("outputs"):
            raise ValueError(f"{self.path!r} has no mobilenet metadata; export it with `mobilenet export`")
        self.predict = entry.predictor(Path(path), threads)
        self.batch = int(self.metadata.get("batch", 1))
        self.output_names = [str(name) for name in self.metadata["outputs"]]

    def forward(self, x: torch.Tensor) -> Any:
        outputs = run_file(self.predict, x.detach().cpu().float(), self.batch)
        tensors = tuple(torch.from_numpy(outputs[name]) for name in self.output_names)
        return tensors[0] if len(tensors) == 1 else tensors
