"""ExecuTorch export: a ``.pte`` lowered to XNNPACK, float and PT2E INT8 (and QAT), checked with the
ExecuTorch runtime by output name; metadata inside; the thread-pool and output-aliasing traps; one-line
errors for bad files and a missing extra. A tiny V3 at 32x32 keeps lowering fast."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("executorch", reason="the executorch extra is not installed")

from tests.export.helpers import perturbed, registered_tiny, write_image_folder  # noqa: E402

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
    torch.manual_seed(0)
    model = perturbed(tiny, num_classes=2)
    nn.init.normal_(model.head_conv.weight, 0, 0.5)  # logits of order 1: a 1e-4 check means something
    return ModelSource(model, "tiny", Preprocessing(32, crop_pct=1.0), CLASSES, "weights")


@pytest.fixture(scope="module")
def files(source, tmp_path_factory) -> dict:
    """The float and INT8 files of the tiny model, exported once for the module's tests."""
    root = tmp_path_factory.mktemp("et")
    images = write_image_folder(root / "images")
    torch.set_num_threads(1)
    fp32 = et.export_executorch(source, root / "tiny.pte", check_images=images)
    int8 = et.export_executorch(source, root / "tiny.int8.pte", "int8", calib=images, check_images=images)
    return {"fp32": fp32, "int8": int8, "images": images, "root": root}


def test_float_file_matches_pytorch_by_output_name(files, source) -> None:
    report = files["fp32"]
    assert report.diff_random <= 1e-4 and report.diff_real is not None and report.diff_real <= 1e-4
    assert report.real_images == 8 and report.batch == 1 and report.resolution == 32
    assert et.output_spec_names(report.path) == ["logits"]
    predict = et.predictor(report.path, threads=1)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        expected = fold_batch_norm(source.model)(x).numpy()
    assert np.abs(expected).max() > 0.5
    assert np.abs(predict(x.numpy())["logits"] - expected).max() <= 1e-4
    # every op in one XNNPACK partition, nothing left to the portable kernels but scalar copies
    assert report.details["xnnpack_partitions"] == 1


def test_metadata_travels_inside_the_program(files) -> None:
    meta = et.read_metadata(files["fp32"].path)
    assert meta["class_names"] == CLASSES and meta["outputs"] == ["logits"] and meta["layout"] == "NCHW"
    assert meta["preprocessing"]["resolution"] == 32 and meta["config"]["name"] == "edge_test_tiny_v3"
    assert "quantization" not in meta
    int8 = et.read_metadata(files["int8"].path)["quantization"]
    assert int8["weights"] == "int8 per-channel symmetric" and int8["calibration"] == "histogram"


def test_int8_file_follows_its_pt2e_reference(files) -> None:
    report = files["int8"]
    assert report.diff_random <= 0.1 and report.diff_real <= 0.1
    assert report.details["xnnpack_partitions"] == 1
    assert report.top1_agreement is not None and 0.0 <= report.top1_agreement <= 1.0
    assert not report.details["outside_ops"].keys() - {"dim_order_ops__to_dim_order_copy_default", "getitem"}
    # really quantized: close to the float file, but not equal to it
    x = np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32)
    a, b = et.predictor(report.path)(x)["logits"], et.predictor(files["fp32"].path)(x)["logits"]
    assert 1e-4 < np.abs(a - b).max() <= 0.25 * max(float(np.abs(b).max()), 1e-3)


def test_accuracy_of_a_file_uses_its_own_preprocessing_and_classes(files) -> None:
    result = file_accuracy("executorch", files["fp32"].path, files["images"])
    assert result.count == 8 and 0 <= result.correct <= 8


def test_outputs_are_copies_and_the_thread_pool_is_sized_before_loading(files) -> None:
    path = files["fp32"].path
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


def test_qat_goes_through_the_same_pt2e_path(source, files, tmp_path) -> None:
    report = et.export_executorch(source, tmp_path / "qat.pte", "int8", calib=files["images"], qat_epochs=1,
                                  qat_lr=0.001, log=lambda _: None)
    assert report.diff_random <= 0.1
    assert et.read_metadata(report.path)["quantization"]["qat_epochs"] == 1


@pytest.mark.parametrize("content, message", [
    (b"not a program at all", "is not an ExecuTorch program"),
    (None, "truncated or corrupt"),
])
def test_bad_files_are_one_line_errors(files, tmp_path, content, message, capsys) -> None:
    bad = tmp_path / "bad.pte"
    bad.write_bytes(content if content is not None else Path(files["fp32"].path).read_bytes()[:200])
    with pytest.raises(ValueError, match=message):
        et.predictor(bad)
    assert main(["bench", str(bad), "--runtime", "executorch", "--runs", "1", "--warmup", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_cli_export_bench_and_val(tiny, tmp_path, capsys) -> None:
    images = write_image_folder(tmp_path / "images")
    out = tmp_path / "m.pte"
    assert main(["export", tiny, "--format", "executorch", "-o", str(out), "--int8", "--calib", str(images),
                 "--calib-method", "minmax", "--val", str(images)]) == 0
    printed = capsys.readouterr().out
    assert "int8 ptq" in printed and (tmp_path / "m.int8.pte").is_file()
    assert et.read_metadata(tmp_path / "m.int8.pte")["quantization"]["calibration"] == "minmax"
    assert main(["bench", str(out), str(tmp_path / "m.int8.pte"), "--runtime", "executorch", "--threads", "1",
                 "--runs", "3", "--warmup", "1", "--format", "json"]) == 0
    import json

    rows = json.loads(capsys.readouterr().out)
    assert [(r["precision"], r["runtime"], r["resolution"]) for r in rows] == [
        ("fp32", "executorch", 32), ("int8", "executorch", 32)]
    assert all(r["p50_ms"] > 0 for r in rows)


@pytest.mark.parametrize("argv, message", [
    (["export", "mobilenet_v1_025", "--format", "executorch", "--batch", "dynamic"], "fixed batch"),
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
