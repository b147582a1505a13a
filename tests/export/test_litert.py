"""LiteRT export: a ``.tflite`` through litert-torch, float and PT2E INT8, checked with the LiteRT
interpreter by signature output name; metadata our TFLite reader reads back; hard-swish forms and
XNNPACK partitions; one-line errors. A tiny V3 at 32x32 keeps conversion fast."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("litert_torch", reason="the litert extra is not installed")

from tests.export.helpers import (export_through_cli, registered_tiny, tiny_source,  # noqa: E402
                                  write_image_folder)

from mobilenet.cli.main import main  # noqa: E402
from mobilenet.data.preprocessing import Preprocessing  # noqa: E402
from mobilenet.export import litert  # noqa: E402
from mobilenet.export.edge import file_accuracy  # noqa: E402
from mobilenet.export.fuse import fold_batch_norm  # noqa: E402
from mobilenet.sources import ModelSource  # noqa: E402
from mobilenet.weights.tflite import labels, preprocessing  # noqa: E402
from mobilenet.weights.tflite_graph import read_graph  # noqa: E402

CLASSES = ["ants", "bees"]


@pytest.fixture(scope="module")
def tiny():
    yield from registered_tiny()


@pytest.fixture(scope="module")
def source(tiny) -> ModelSource:
    pre = Preprocessing(32, crop_pct=1.0, resize_mode="squash", mean=(0.5,) * 3, std=(0.25,) * 3)
    return tiny_source(tiny, pre, CLASSES)


@pytest.fixture(scope="module")
def files(source, tmp_path_factory) -> dict:
    """The float and INT8 files of the tiny model, exported once through the CLI for the module's tests
    (lowering is the slow part: each export here saves one in CI)."""
    root = tmp_path_factory.mktemp("litert")
    images = write_image_folder(root / "images")
    torch.set_num_threads(1)
    fp32, int8 = export_through_cli(source, root, "tflite", ".tflite", "--int8", "--calib", str(images),
                                    "--calib-method", "minmax")
    return {"fp32": fp32, "int8": int8, "images": images}


def test_float_file_matches_pytorch_by_signature_name(files, source) -> None:
    report = files["fp32"]
    assert report["precision"] == "fp32" and report["max_diff_random"] <= 1e-4
    assert report["max_diff_real"] is not None and report["max_diff_real"] <= 1e-4
    runner = litert.interpreter(report["file"])
    signature = next(iter(runner.get_signature_list().values()))
    assert signature["outputs"] == ["logits"]
    assert list(runner.get_input_details()[0]["shape"]) == [1, 32, 32, 3]  # NHWC, as LiteRT users feed it
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        expected = fold_batch_norm(source.model)(x).numpy()
    assert np.abs(expected).max() > 0.5
    assert np.abs(litert.predictor(report["file"])(x.numpy())["logits"] - expected).max() <= 1e-4
    assert report["xnnpack_partitions"] == 1


def test_our_tflite_reader_reads_the_metadata_and_labels_back(files) -> None:
    graph = read_graph(files["fp32"]["file"])
    record = json.loads(graph.metadata[litert.METADATA_NAME])
    assert record["class_names"] == CLASSES and record["outputs"] == ["logits"] and record["layout"] == "NHWC"
    assert graph.associated_files[litert.LABELS_FILE].decode().splitlines() == CLASSES
    assert labels(graph, 2) == CLASSES
    pre = preprocessing(graph, 32)
    assert pre["mean"] == [0.5] * 3 and pre["std"] == [0.25] * 3 and pre["resize_mode"] == "squash"
    quantization = litert.read_metadata(files["int8"]["file"])["quantization"]
    assert quantization["activations"] == "int8 per-tensor" and quantization["calibration"] == "minmax"


def _hard_swish_inputs(path: str) -> list[str]:
    graph = read_graph(path)
    return [graph.tensors[op.inputs[0]].dtype for op in graph.operators if op.type == "HARD_SWISH"]


def test_int8_file_stays_in_one_xnnpack_partition(files) -> None:
    report = files["int8"]
    assert report["precision"] == "int8 ptq" and report["max_diff_random"] <= 0.1 and report["max_diff_real"] <= 0.1
    assert report["xnnpack_partitions"] == 1 and 0.0 <= report["top1_agreement"] <= 1.0
    # stem, the expand and depthwise convs of blocks 1 and 2, the last conv and the head
    assert _hard_swish_inputs(report["file"]) == ["FLOAT32"] * 7
    ops = litert.delegation(report["file"])["ops"]
    assert ops["CONV_2D"] >= 8 and ops["DEQUANTIZE"] >= 3
    graph = read_graph(report["file"])
    weights = [graph.tensors[op.inputs[1]].dtype for op in graph.operators if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    assert set(weights) == {"INT8"} and len(weights) >= 11


def test_quantization_aware_training_goes_through_the_litert_quantizer(source, files, tmp_path) -> None:
    """``--qat-epochs`` for LiteRT: the fake-quantized graph is fine-tuned, then converted like PTQ."""
    report = litert.export_litert(source, tmp_path / "qat.tflite", "int8", calib=files["images"], qat_epochs=1,
                                  qat_lr=0.001, check_images=files["images"], log=lambda line: None)
    assert report.details["xnnpack_partitions"] == 1
    assert report.diff_random <= 0.1 and report.diff_real is not None and report.diff_real <= 0.1
    assert litert.read_metadata(report.path)["quantization"]["qat_epochs"] == 1
    x = torch.randn(1, 3, 32, 32).numpy()
    qat, ptq = litert.predictor(report.path)(x)["logits"], litert.predictor(files["int8"]["file"])(x)["logits"]
    assert not np.array_equal(qat, ptq)  # the fine-tune changed the weights


def test_native_int8_hard_swish_splits_the_graph(source, files, tmp_path) -> None:
    """The converter's int8 HARD_SWISH has no XNNPACK kernel: the graph falls apart around each one,
    and the float form computes the same function."""
    report = litert.export_litert(source, tmp_path / "native.tflite", "int8", calib=files["images"],
                                  hard_swish="native")
    assert set(_hard_swish_inputs(report.path)) == {"INT8"}
    assert report.details["xnnpack_partitions"] > 1
    x = torch.randn(4, 3, 32, 32).numpy()
    native = litert.predictor(report.path)
    ours = litert.predictor(files["int8"]["file"])
    a = np.concatenate([native(x[i:i + 1])["logits"] for i in range(4)])
    b = np.concatenate([ours(x[i:i + 1])["logits"] for i in range(4)])
    assert np.abs(a - b).max() <= 0.1 * float(np.ptp(b))


def test_accuracy_of_a_file_uses_its_own_preprocessing_and_classes(files, capsys) -> None:
    result = file_accuracy("litert", files["int8"]["file"], files["images"])
    assert result.count == 8 and 0 <= result.correct <= 8
    # `mobilenet eval` runs the file too, with the same images, classes and preprocessing
    argv = ["eval", files["int8"]["file"], "--data", str(files["images"]), "--workers", "0", "--format", "json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["images"] == 8 and summary["top1"] == pytest.approx(result.top1)


def test_cli_bench_runs_both_files(files, capsys) -> None:
    assert main(["bench", files["fp32"]["file"], files["int8"]["file"], "--runtime", "litert", "--threads", "1",
                 "--runs", "3", "--warmup", "1", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["precision"], r["runtime"]) for r in rows] == [("fp32", "litert"), ("int8", "litert")]
    assert all(r["p50_ms"] > 0 for r in rows)


@pytest.mark.parametrize("cut", [None, 300])
def test_corrupt_files_are_one_line_errors(files, tmp_path, cut, capsys) -> None:
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"garbage, not a flatbuffer" if cut is None else Path(files["fp32"]["file"]).read_bytes()[:cut])
    with pytest.raises(ValueError):
        litert.predictor(bad)
    assert main(["bench", str(bad), "--runtime", "litert", "--runs", "1", "--warmup", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert str(bad) in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_missing_extra_is_one_line_naming_the_install(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setitem(sys.modules, "litert_torch", None)   # as if litert-torch were not installed
    assert main(["export", "mobilenet_v1_025", "--format", "tflite", "-o", str(tmp_path / "m.tflite")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "pip install 'mobilenet[litert]'" in lines[0]
