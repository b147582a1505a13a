"""The command line: output formats, and one clear line with exit status 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mobilenet.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_every_model(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list", "--format", "csv")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0] == "model,paper,width_mult,resolution,params,macs"
    assert any(line.startswith("mobilenet_v2_035,V2 Table 2,0.35,224,1663") for line in lines)


def test_info_json_has_totals_and_layers(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "info", "mobilenet_v2", "--width-mult", "0.5", "--resolution", "160",
                       "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert data["macs"] == sum(layer["macs"] for layer in data["layers"])
    assert data["params"] == sum(layer["params"] for layer in data["layers"])
    assert round(data["macs"] / 1e6) == 50 and data["resolution"] == 160
    assert data["layers"][0]["layer"] == "stem.conv" and data["layers"][-1]["layer"] == "classifier"


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
def test_info_formats(capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    code, out, _ = run(capsys, "info", "mobilenet_v3_small", "--format", fmt)
    assert code == 0 and "blocks.0.se.reduce" in out


def test_info_as_standard_conv_gives_table_4(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "info", "mobilenet_v1", "--as-standard-conv")
    assert code == 0 and "4,867.3M multiply-adds" in out


def test_conv_cost_prints_both_and_the_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "conv-cost", "--in", "512", "--out", "512", "--kernel", "3", "--size", "14",
                       "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert [row["macs"] for row in data["rows"]] == [3 * 3 * 512 * 512 * 14 * 14, 3 * 3 * 512 * 196 + 512 * 512 * 196]
    assert data["ratio"] == pytest.approx(1 / 512 + 1 / 9)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["info", "mobilenet_v9"], "unknown model 'mobilenet_v9'"),
        (["info", "mobilenet_v1", "--width-mult", "0"], "width_mult must be a number > 0"),
        (["info", "mobilenet_v1", "--width-mult", "-1"], "width_mult must be a number > 0"),
        (["info", "mobilenet_v2", "--resolution", "20"], "resolution 20 is too small"),
        (["conv-cost", "--in", "0", "--out", "8", "--size", "7"], "--in must be a positive integer"),
        (["list", "resnet*"], "no model matches 'resnet*'"),
    ],
)
def test_bad_input_is_one_line_and_status_2(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_console_script_runs_as_a_module() -> None:
    result = subprocess.run([sys.executable, "-m", "mobilenet", "info", "nope"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "unknown model" in result.stderr
