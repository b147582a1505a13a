"""``mobilenet export`` and ``mobilenet bench`` from the command line: outputs and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mobilenet.cli.main import main
from mobilenet.export.bench import pareto_front
from mobilenet.export.onnx import read_metadata


def test_export_float_and_int8(tmp_path: Path, image_folder: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "v3.onnx"
    code = main(["export", "mobilenet_v3_small_050", "--resolution", "96", "--batch-size", "1", "-o", str(out),
                 "--int8", "--calib", str(image_folder), "--calib-method", "minmax"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "int8 ptq" in printed and str(out) in printed
    assert read_metadata(tmp_path / "v3.int8.onnx")["quantization"]["calibration"] == "minmax"
    assert read_metadata(out)["preprocessing"]["resolution"] == 96


@pytest.mark.parametrize("argv, message", [
    (["export", "mobilenet_v1_025", "--int8"], "--int8 needs --calib DIR"),
    (["export", "mobilenet_v1_025", "--int8", "--calib", "/no/such/folder"], "calibration folder '/no/such/folder' does not exist"),
    (["export", "mobilenet_v9"], "neither a registered model"),
    (["bench", "mobilenet_v1_025", "--runtime", "tflite"], "unsupported runtime 'tflite'; valid: torch, onnxruntime, openvino"),
    (["bench", "mobilenet_v1_025", "--precision", "int4"], "unsupported precision 'int4'"),
    (["bench", "mobilenet_v1_025", "--runtime", "torch", "--precision", "int8"], "runtime 'torch' has no int8 kernels"),
    (["export", "mobilenet_v1_025", "-o", "x.tflite", "--format", "onnx"], "does not end in .onnx"),
])
def test_user_errors_are_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_bench_of_a_corrupt_onnx_checkpoint_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"PK\x03\x04 truncated")
    assert main(["bench", str(bad)]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_bench_rows_csv_json_and_grid_plot(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    csv_path, json_path, plot = tmp_path / "b.csv", tmp_path / "b.json", tmp_path / "p.png"
    code = main(["bench", "mobilenet_v3_small_050", "--grid", "--widths", "0.35,0.5", "--resolutions", "96,128",
                 "--runtime", "torch", "--batch-size", "1,2", "--runs", "3", "--warmup", "1", "--csv", str(csv_path),
                 "--json", str(json_path), "--plot", str(plot), "--format", "csv"])
    assert code == 0
    rows = json.loads(json_path.read_text())
    assert len(rows) == 8 and {r["resolution"] for r in rows} == {96, 128} and {r["batch"] for r in rows} == {1, 2}
    assert all(r["p50_ms"] > 0 and r["p90_ms"] >= r["p50_ms"] and r["size_mb"] > 0 and r["runtime"] == "torch"
               for r in rows)
    assert rows[0]["macs_m"] < rows[-1]["macs_m"]
    assert csv_path.read_text().splitlines()[0].startswith("model,width_mult,resolution,runtime")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_torch_and_int8_rows(capsys: pytest.CaptureFixture) -> None:
    code = main(["bench", "mobilenet_v2_035", "--resolution", "96", "--runtime", "torch,onnxruntime",
                 "--precision", "fp32,int8", "--runs", "3", "--warmup", "1", "--format", "json"])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    kinds = {(r["runtime"], r["precision"], r["batch"]) for r in rows}
    assert kinds == {("torch", "fp32", 1), ("onnxruntime", "fp32", 1), ("onnxruntime", "int8", 1)}
    by = {(r["runtime"], r["precision"], r["batch"]): r for r in rows}
    assert by["onnxruntime", "int8", 1]["size_mb"] < 0.5 * by["onnxruntime", "fp32", 1]["size_mb"]


def test_pareto_front() -> None:
    points = [(1, 5.0), (2, 4.0), (3, 4.5), (4, 1.0)]
    assert pareto_front(points) == [0, 1, 3]
    assert pareto_front([(1, 70.0), (2, 60.0), (3, 75.0)], higher_is_better=True) == [0, 2]


def test_bench_exported_files_and_their_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "m.onnx"
    assert main(["export", "mobilenet_v1_025", "--resolution", "64", "--batch-size", "1", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["bench", str(out), "--runs", "3", "--warmup", "1", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["runtime"], r["precision"], r["resolution"]) for r in rows] == [("onnxruntime", "fp32", 64)]
    assert main(["bench", str(out), "--batch-size", "4"]) == 2
    assert "was exported for batch 1; bench it at batch 1" in capsys.readouterr().err
    truncated = tmp_path / "t.onnx"
    truncated.write_bytes(out.read_bytes()[:5000])
    assert main(["bench", str(truncated)]) == 2
    err = capsys.readouterr().err
    assert "not a valid ONNX model (truncated or corrupt?)" in err and len(err.strip().splitlines()) == 1


def test_openvino_runtime(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("openvino", reason="OpenVINO is an optional extra: pip install 'mobilenet[openvino]'")
    assert main(["bench", "mobilenet_v1_025", "--resolution", "64", "--runtime", "openvino", "--precision",
                 "fp32,int8", "--runs", "3", "--warmup", "1", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["runtime"], r["precision"]) for r in rows] == [("openvino", "fp32"), ("openvino", "int8")]
    assert rows[1]["size_mb"] < rows[0]["size_mb"]
