"""The package works after ``pip install``: the wheel is built from the project's files, installed with
``--no-deps`` into a fresh virtual environment that borrows the heavy dependencies (torch, onnxruntime,
...) from this one through a ``.pth`` file, and run outside the source tree: the demo's smoke path and a
fine-tune with the ``finetune`` recipe on a tiny image folder. ``make test`` runs it (slow);
``pytest tests/test_wheel.py`` runs it alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import mobilenet
from mobilenet.recipes import list_recipes
from mobilenet.weights import format as our_format
from tests.data.helpers import write_digit_folder

REPO = Path(__file__).resolve().parents[1]
BUILD_INPUTS = ("pyproject.toml", "README.md", "LICENSE", "src")


def _run(command: list, cwd: Path, env: dict, timeout: int = 300) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path, dict]:
    """(wheel, the fresh environment's bin/, the environment to run it with)."""
    root = tmp_path_factory.mktemp("wheel")
    project = root / "project"
    for name in BUILD_INPUTS:  # only what the build reads: no caches, runs or egg-info of the checkout
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            project.mkdir(exist_ok=True)
            shutil.copy2(source, project / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["OMP_NUM_THREADS"] = "1"  # a shared 2-core machine: two spinning threads per process slow it 2-3x
    _run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-w", root / "dist", "-q"],
         project, env)
    wheel = next((root / "dist").glob("mobilenet-*.whl"))
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], root, env)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    # pip of this environment installs into the fresh one (which sees nothing else yet)
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel],
         root, env)
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], root, env)
                   .stdout.strip())
    ours = {str(Path(p).resolve()) for p in sys.path if p.endswith(("site-packages", "dist-packages"))}
    (purelib / "zz_borrowed_dependencies.pth").write_text("".join(f"{p}\n" for p in sorted(ours)))
    return wheel, bin_dir, env


@pytest.mark.slow
def test_the_wheel_holds_the_recipes_the_digits_and_the_licence(installed):
    wheel = installed[0]
    names = zipfile.ZipFile(wheel).namelist()
    assert {f"mobilenet/recipes/{r}.yaml" for r in list_recipes()} <= set(names)
    assert "mobilenet/data/digits.npz" in names and "mobilenet/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE") for n in names)
    assert not [n for n in names if "tests/" in n or n.endswith(".pyc")]
    assert wheel.name.startswith(f"mobilenet-{mobilenet.__version__}-")


@pytest.mark.slow
def test_the_installed_package_is_the_wheel_and_knows_its_version(installed, tmp_path):
    _, bin_dir, env = installed
    code = ("import importlib.metadata as m, mobilenet; print(mobilenet.__file__); "
            "print(m.version('mobilenet'), mobilenet.__version__)")
    out = _run([bin_dir / "python", "-c", code], tmp_path, env).stdout.split("\n")
    assert Path(out[0]).is_relative_to(bin_dir.parent) and out[1] == f"{mobilenet.__version__} {mobilenet.__version__}"
    assert _run([bin_dir / "mobilenet", "--version"], tmp_path, env).stdout.strip() == \
        f"mobilenet {mobilenet.__version__}"


@pytest.mark.slow
def test_the_demo_runs_from_the_wheel(installed, tmp_path):
    _, bin_dir, env = installed
    out = _run([bin_dir / "mobilenet", "demo", "--epochs", "1", "--max-images", "128", "--width-mult", "0.35",
          "--resolution", "32", "--no-progress"],
               tmp_path, env).stdout
    for line in ("accuracy    top-1", "params", "onnx fp32", "onnx int8"):
        assert line in out, out
    assert len(list((tmp_path / "runs").glob("*/best.pt"))) == 1


@pytest.mark.slow
def test_a_finetune_with_the_shipped_recipe_runs_from_the_wheel(installed, tmp_path):
    _, bin_dir, env = installed
    folder = write_digit_folder(tmp_path / "photos", classes=(0, 1), per_class=8)
    weights = tmp_path / "pretrained.safetensors"
    our_format.save(mobilenet.create_model("mobilenet_v3_small_035"), weights)
    _run([bin_dir / "mobilenet", "train", "--recipe", "finetune", "--data", folder, "--model",
          "mobilenet_v3_small_035", "--weights", weights, "--epochs", "1", "--resolution", "32", "--batch-size", "4",
          "--workers", "0", "--no-progress", "--output", "runs", "--name", "ft"], tmp_path, env)
    config = (tmp_path / "runs" / "ft" / "config.yaml").read_text()
    assert "lr: 0.001" in config and "freeze_bn: true" in config  # the recipe's settings, read from the wheel
