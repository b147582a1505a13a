"""ExecuTorch export: a ``.pte`` lowered to XNNPACK, float and PT2E INT8 (and QAT), checked with the
ExecuTorch runtime by output name; metadata inside; the thread-pool and output-aliasing traps; one-line
errors for bad files and a missing extra. A tiny V3 at 32x32 keeps lowering fast."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("executorch", reason="the executorch extra is not installed")

from tests.export.helpers import (export_through_cli, registered_tiny, tiny_source,  # noqa: E402
                                  write_image_folder)

from mobilenet.cli.main import main  # noqa: E402
from mobilenet.data.preprocessing import Preprocessing  # noqa: E402
from mobilenet.export import executorch as et  # noqa: E402
from mobilenet.export.edge import file_accuracy  # noqa: E402
from mobilenet.export.fuse import fold_batch_norm  # noqa: E402
from mobilenet.sources import ModelSource  # noqa: E402

CLASSES = ["ants", "bees"]


@pytest.fixture(scope="module")
def tiny():
    yield from registered_tiny()


@pytest.fixture(scope="module")
def source(tiny) -> ModelSource:
    return tiny_source(tiny, Preprocessing(32, crop_pct=1.0), CLASSES)


@pytest.fixture(scope="module")
def files(source, tmp_path_factory) -> dict:
    """The float and INT8 (quantization-aware, one epoch) files of the tiny model, exported once through
    the CLI for the module's tests (lowering is the slow part: each export here saves one in CI)."""
    root = tmp_path_factory.mktemp("et")
    images = write_image_folder(root / "images")
    torch.set_num_threads(1)
    fp32, int8 = export_through_cli(source, root, "executorch", ".pte", "--int8", "--calib", str(images),
                                    "--calib-method", "minmax", "--qat-epochs", "1", "--qat-lr", "0.001",
                                    "--val", str(images))
    return {"fp32": fp32, "int8": int8, "images": images, "root": root}


def test_float_file_matches_pytorch_by_output_name(files, source) -> None:
    report = files["fp32"]
    assert report["precision"] == "fp32" and report["max_diff_random"] <= 1e-4
    assert report["max_diff_real"] is not None and report["max_diff_real"] <= 1e-4
    assert et.output_spec_names(report["file"]) == ["logits"]
    meta = et.read_metadata(report["file"])
    assert meta["batch"] == 1 and meta["preprocessing"]["resolution"] == 32
    predict = et.predictor(report["file"], threads=1)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        expected = fold_batch_norm(source.model)(x).numpy()
    assert np.abs(expected).max() > 0.5
    assert np.abs(predict(x.numpy())["logits"] - expected).max() <= 1e-4
    assert report["xnnpack_partitions"] == 1  # every op in one XNNPACK partition


def test_metadata_travels_inside_the_program(files) -> None:
    meta = et.read_metadata(files["fp32"]["file"])
    assert meta["class_names"] == CLASSES and meta["outputs"] == ["logits"] and meta["layout"] == "NCHW"
    assert meta["preprocessing"]["resolution"] == 32 and meta["config"]["name"] == "edge_test_tiny_v3"
    assert "quantization" not in meta
    int8 = et.read_metadata(files["int8"]["file"])["quantization"]
    assert int8["weights"] == "int8 per-channel symmetric" and int8["calibration"] == "minmax"
    assert int8["qat_epochs"] == 1


def test_int8_file_follows_its_pt2e_reference(files) -> None:
    report = files["int8"]
    assert report["precision"] == "int8 qat" and report["max_diff_random"] <= 0.1 and report["max_diff_real"] <= 0.1
    assert report["xnnpack_partitions"] == 1
    assert 0.0 <= report["top1_agreement"] <= 1.0 and 0.0 <= report["top1"] <= 100.0
    # really quantized: close to the float file, but not equal to it
    x = np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32)
    a, b = et.predictor(report["file"])(x)["logits"], et.predictor(files["fp32"]["file"])(x)["logits"]
    assert 1e-4 < np.abs(a - b).max() <= 0.25 * max(float(np.abs(b).max()), 1e-3)


def test_accuracy_of_a_file_uses_its_own_preprocessing_and_classes(files, capsys) -> None:
    result = file_accuracy("executorch", files["fp32"]["file"], files["images"])
    assert result.count == 8 and 0 <= result.correct <= 8
    # `mobilenet eval` runs the file too, with the same images, classes and preprocessing
    argv = ["eval", files["fp32"]["file"], "--data", str(files["images"]), "--workers", "0", "--format", "json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["images"] == 8 and summary["top1"] == pytest.approx(result.top1)


def test_outputs_are_copies_and_the_thread_pool_is_sized_before_loading(files) -> None:
    path = files["fp32"]["file"]
    loaded = et.Loaded(path, threads=1)
    x = torch.randn(1, 3, 32, 32)
    first = loaded(x)[0]
    kept = first.clone()
    loaded(torch.randn(1, 3, 32, 32))
    assert torch.equal(first, kept), "a second call must not overwrite the first call's outputs"
    et.set_threads(2)
    with pytest.raises(RuntimeError, match="thread pool was resized"):
        loaded(x)
    again = et.Loaded(path, threads=2)
    assert torch.allclose(again(x)[0], kept, atol=1e-5)
    assert et.set_threads(None) == again.generation


@pytest.mark.parametrize("content, message", [
    (b"not a program at all", "is not an ExecuTorch program"),
    (None, "truncated or corrupt"),
])
def test_bad_files_are_one_line_errors(files, tmp_path, content, message, capsys) -> None:
    bad = tmp_path / "bad.pte"
    bad.write_bytes(content if content is not None else Path(files["fp32"]["file"]).read_bytes()[:200])
    with pytest.raises(ValueError, match=message):
        et.predictor(bad)
    capsys.readouterr()  # what the CLI prints, below, is one line
    assert main(["bench", str(bad), "--runtime", "executorch", "--runs", "1", "--warmup", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_cli_bench_runs_both_files(files, capsys) -> None:
    assert main(["bench", files["fp32"]["file"], files["int8"]["file"], "--runtime", "executorch", "--threads", "1",
                 "--runs", "3", "--warmup", "1", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["precision"], r["runtime"], r["resolution"]) for r in rows] == [
        ("fp32", "executorch", 32), ("int8", "executorch", 32)]
    assert all(r["p50_ms"] > 0 for r in rows)


@pytest.mark.parametrize("argv, message", [
    (["export", "mobilenet_v1_025", "--format", "executorch", "--batch-size", "dynamic"], "fixed batch"),
    (["export", "mobilenet_v1_025", "--format", "executorch", "--int8", "--calib", ".", "--calib-method",
      "entropy"], "calibration method 'entropy' is not one of format executorch; valid: histogram, minmax"),
    (["export", "mobilenet_v1_025", "--format", "executorch", "--hard-swish", "native"], "tflite only"),
    (["export", "mobilenet_v1_025", "-o", "x.tflite", "--format", "executorch"], "does not end in .pte"),
])
def test_cli_user_errors_are_one_line(argv, message, capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_missing_extra_is_one_line_naming_the_install(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setitem(sys.modules, "executorch", None)   # as if executorch were not installed
    assert main(["export", "mobilenet_v1_025", "--format", "executorch", "-o", str(tmp_path / "m.pte")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "pip install 'mobilenet[executorch]'" in lines[0]
