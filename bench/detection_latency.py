"""Issue 12 speed target: our SSDLite-V3-Large network against torchvision's, in one process.

``ssdlite320_mobilenet_v3_large`` at 320, batch 1, 2 threads, the network before post-processing
(box codes and class logits; NMS costs the same on both sides): our float ONNX
(``export_form(postprocess=False)``, BN folded) vs torchvision's backbone + head exported by
``torch.onnx.export``, same onnxruntime session options, timed in alternating rounds, medians.
Target: ours / torchvision <= 1.05. The CPU (``lscpu`` model and SIMD flags) is printed, since
int8 and float kernels depend on them. Run:
``.venv/bin/python bench/detection_latency.py [--rounds 30] [--calls 20] [--threads 2]``
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import torch
import torchvision
from torch import nn

import mobilenet
from deploy import interleaved   # bench/deploy.py: alternating rounds, medians
from mobilenet.data.preprocessing import Preprocessing
from mobilenet.export.onnx import DEFAULT_OPSET, export_onnx
from mobilenet.export.runtimes import onnxruntime_runner
from mobilenet.sources import ModelSource

NAME, RESOLUTION, BATCH, TARGET = "ssdlite320_mobilenet_v3_large", 320, 1, 1.05
SIMD = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8")


class TorchvisionNetwork(nn.Module):
    """torchvision's SSDLite without its transform and post-processing: backbone + head."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.backbone, self.head = model.backbone, model.head

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.head(list(self.backbone(x).values()))
        return out["bbox_regression"], out["cls_logits"]


def cpu_summary() -> str:
    """``lscpu``'s model name and which of the SIMD flags that matter for inference are present."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "lscpu unavailable"
    model = re.search(r"^Model name:\s*(.+)$", text, re.M)
    line = re.search(r"^Flags:\s*(.+)$", text, re.M)
    flags = set(line.group(1).split()) if line else set()
    present = [f for f in SIMD if f in flags]
    return f"{model.group(1) if model else 'unknown CPU'}; flags: {' '.join(present) or 'none of ' + ' '.join(SIMD)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30, help="alternating rounds")
    parser.add_argument("--calls", type=int, default=20, help="timed calls per round")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads of both sessions")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="detection-bench-"))
    torch.manual_seed(0)
    ours = mobilenet.create_model(NAME, resolution=RESOLUTION).eval()
    theirs = TorchvisionNetwork(torchvision.models.detection.ssdlite320_mobilenet_v3_large(
        weights=None, weights_backbone=None)).eval()
    ours_path, theirs_path = work / "ours.onnx", work / "torchvision.onnx"
    export_onnx(ModelSource(ours, NAME, Preprocessing.from_dict(ours.default_preprocessing())), ours_path,
                batch=BATCH, postprocess=False)
    program = torch.onnx.export(theirs, (torch.randn(BATCH, 3, RESOLUTION, RESOLUTION),), None, dynamo=True,
                                opset_version=DEFAULT_OPSET, input_names=["input"],
                                output_names=["box_codes", "class_logits"], verbose=False)
    program.save(str(theirs_path))
    run_ours = onnxruntime_runner(None, ours_path, BATCH, RESOLUTION, args.threads)
    run_theirs = onnxruntime_runner(None, theirs_path, BATCH, RESOLUTION, args.threads)
    t_ours, t_theirs = interleaved(run_ours, run_theirs, args.rounds, args.calls)
    ratio = t_ours / t_theirs
    print(f"{NAME} network (no NMS), batch {BATCH}, {args.threads} threads, {RESOLUTION}x{RESOLUTION}; onnxruntime, "
          f"torch {torch.__version__}, torchvision {torchvision.__version__}; medians of {args.rounds} interleaved "
          f"rounds of {args.calls} calls")
    print(f"CPU: {cpu_summary()}")
    print(f"ours {1e3 * t_ours:.2f} ms | torchvision {1e3 * t_theirs:.2f} ms | ours/torchvision {ratio:.3f} "
          f"{'ok' if ratio <= TARGET else 'MISS'} (<= {TARGET})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
