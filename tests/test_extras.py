"""Optional dependencies: a missing one is one line that names its extra, and training runs without
matplotlib. A missing module is simulated with ``sys.modules[name] = None`` (what Python does for
a blocked import) after our own modules are dropped from ``sys.modules``, so they import anew
and meet the gap; the test's teardown puts every module back."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Callable

import pytest

from mobilenet.extras import EXTRAS, MissingExtra, available, install_hint, require

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def without(monkeypatch) -> Callable[..., Callable[[list[str]], int]]:
    """``without("onnx", ...)`` gives a fresh ``mobilenet.cli.main.main`` that cannot import them."""
    def block(*modules: str) -> Callable[[list[str]], int]:
        for name in [m for m in sys.modules if m == "mobilenet" or m.startswith("mobilenet.")]:
            monkeypatch.delitem(sys.modules, name)
        for name in modules:
            monkeypatch.setitem(sys.modules, name, None)
        return importlib.import_module("mobilenet.cli.main").main
    return block


def test_the_table_of_extras_is_pyprojects():
    tomllib = pytest.importorskip("tomllib")
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for module, extra in EXTRAS.items():
        names = [req.split(">")[0].split("=")[0].split("[")[0].strip().replace("-", "_") for req in extras[extra]]
        assert module in names, (module, extra, extras[extra])
    assert install_hint("onnxruntime.quantization") == "pip install 'mobilenet[export]'"
    with pytest.raises(ValueError, match="'sklearn' is not an optional dependency; known: ai_edge_litert, executorch, h5py, "):
        install_hint("sklearn")


def test_require_names_the_extra_or_the_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(MissingExtra, match=r"^reading Keras files needs h5py, which is not installed: "
                                           r"pip install 'mobilenet\[keras\]'$"):
        require("h5py", "reading Keras files")
    assert not available("h5py") and available("json")
    assert isinstance(MissingExtra("x"), ValueError)  # the CLI's one-line, exit-2 errors


def test_a_broken_install_is_not_called_missing(tmp_path, monkeypatch):
    (tmp_path / "matplotlib").mkdir()
    (tmp_path / "matplotlib" / "__init__.py").write_text("import no_such_dependency_of_matplotlib\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(MissingExtra, match="installed but does not import .*no_such_dependency_of_matplotlib"):
        require("matplotlib", "plots")


def test_openvino_runtime_without_openvino(without):
    without("openvino")
    from mobilenet.export.runtimes import openvino_runner
    from mobilenet.extras import MissingExtra

    with pytest.raises(MissingExtra, match=r"runtime 'openvino' needs openvino.*mobilenet\[openvino\]"):
        openvino_runner(None, Path("model.onnx"), 1, 224, None)


@pytest.mark.parametrize("blocked, args, extra", [
    ("h5py", ["convert", "w.h5", "--model", "mobilenet_v1_025", "-o", "o.safetensors"], "keras"),
    ("onnx", ["export", "mobilenet_v3_small", "-o", "m.onnx"], "export"),
    ("onnxruntime", ["export", "mobilenet_v3_small", "-o", "m.onnx", "--int8", "--calib", "."], "export"),
    ("onnxscript", ["export", "mobilenet_v3_small", "-o", "m.onnx"], "export"),
    ("matplotlib", ["eval", "no-run", "--plots", "."], "plots"),
    ("matplotlib", ["bench", "mobilenet_v3_small", "--grid"], "plots"),
])
def test_a_missing_extra_is_one_line_and_exit_2(blocked, args, extra, without, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.h5").write_bytes(b"not read: h5py is missing")
    assert without(blocked)(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"needs {blocked}, which is not installed: pip install 'mobilenet[{extra}]'" in err
    assert not any(p.suffix in (".onnx", ".png", ".safetensors") for p in tmp_path.iterdir())


def test_training_runs_without_matplotlib(tmp_path, without, capsys, one_thread):
    without("matplotlib", "matplotlib.pyplot")
    from mobilenet.engine.trainer import train
    from tests.engine.helpers import TINY

    config = importlib.import_module("mobilenet.engine.config").resolve_config(
        None, **{**TINY, "epochs": 2, "max_images": 64, "output": str(tmp_path), "name": "no-plots"})
    result = train(config)
    names = {p.name for p in result.run_dir.iterdir()}
    assert {"best.pt", "last.pt", "metrics.csv"} <= names and not {"curves.png", "confusion.png"} & names
    err = capsys.readouterr().err
    assert err.count("note: no curves.png or confusion.png for this run") == 1 and "mobilenet[plots]" in err


@pytest.mark.slow
def test_demo_without_onnx_and_matplotlib_trains_and_skips_the_export(tmp_path, without, capsys, one_thread):
    main = without("onnx", "matplotlib")
    assert main(["demo", "--epochs", "1", "--max-images", "128", "--width-mult", "0.35", "--resolution", "32",
                 "--workers", "0", "--no-progress", "--output", str(tmp_path / "runs")]) == 0
    out, err = capsys.readouterr()
    for field in ("accuracy    top-1", "params", "MACs", "latency", "run folder"):
        assert field in out, field
    assert len(list((tmp_path / "runs").glob("*/best.pt"))) == 1
    assert "deploy      skipped: ONNX export needs onnx, which is not installed: pip install 'mobilenet[export]'" \
        in out
    assert "mobilenet[plots]" in err and "Traceback" not in err
