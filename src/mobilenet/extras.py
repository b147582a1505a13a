"""Optional dependencies: import one where it is needed, or say in one line which extra installs it.

``pip install mobilenet`` gives models, cost, weights, training and the demo's training; the
rest comes with an extra (``pyproject.toml``): ``export`` (ONNX, INT8, bench), ``keras`` (Keras
``.h5``/``.keras`` files), ``plots`` (training curves, confusion matrices, Pareto plots),
``openvino``, ``tflite`` (reading ``.tflite`` files), ``litert`` and ``executorch`` (export to the
phone runtimes), ``hub`` (Hugging Face Hub), ``tensorboard`` and ``detection`` (pycocotools: mAP). The CLI
turns ``MissingExtra`` (a ``ValueError``) into one line and exit status 2.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

# The extra that installs each optional top-level module (the same lists as pyproject.toml; tested).
EXTRAS: dict[str, str] = {
    "onnx": "export",
    "onnxruntime": "export",
    "onnxscript": "export",
    "h5py": "keras",
    "matplotlib": "plots",
    "openvino": "openvino",
    "ai_edge_litert": "tflite",
    "litert_torch": "litert",
    "executorch": "executorch",
    "torchao": "executorch",
    "huggingface_hub": "hub",
    "tensorboard": "tensorboard",
    "pycocotools": "detection",
}


class MissingExtra(ValueError):
    """An optional dependency is not installed; the message names the extra that installs it."""


def install_hint(module: str) -> str:
    """``pip install 'mobilenet[<extra>]'`` for a module of ``EXTRAS``."""
    top = module.split(".")[0]
    if top not in EXTRAS:
        raise ValueError(f"{top!r} is not an optional dependency; known: {', '.join(sorted(EXTRAS))}")
    return f"pip install 'mobilenet[{EXTRAS[top]}]'"


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` (e.g. ``"onnxruntime.quantization"``) for ``purpose``, or raise ``MissingExtra``.

    A module that is installed but fails to import is reported with its own error, not as missing.
    """
    hint = install_hint(module)
    top = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ImportError as error:
        missing = isinstance(error, ModuleNotFoundError) and (error.name or "").split(".")[0] == top
        if missing:
            raise MissingExtra(f"{purpose} needs {top}, which is not installed: {hint}") from None
        raise MissingExtra(f"{purpose} needs {top}, which is installed but does not import ({error}); "
                           f"reinstall it: {hint}") from None


def available(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it, when it has not been yet)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package that is missing, or broken
        return False


def pyplot(purpose: str = "drawing plots") -> ModuleType:
    """``matplotlib.pyplot`` with the file-only Agg backend, or ``MissingExtra``."""
    matplotlib = require("matplotlib", purpose)
    matplotlib.use("Agg")
    return require("matplotlib.pyplot", purpose)
