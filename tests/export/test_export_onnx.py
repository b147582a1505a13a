"""ONNX export: every registered model, numerics against PyTorch, metadata, atomic writes, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from tests.export.helpers import perturbed

import mobilenet
from mobilenet.export import onnx as onnx_export
from mobilenet.export.images import list_images
from mobilenet.export.onnx import ExportCheckError, export_onnx, load_onnx, make_session, read_metadata
from mobilenet.weights.checkpoint import FORMAT, save_atomic
from mobilenet.data.preprocessing import Preprocessing
from mobilenet.sources import ModelSource, open_source

# The dynamo exporter per block family (the minimal V3s add no op kind: the torchscript test covers them).
FAMILIES = ("mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small")


def source_of(name: str, resolution: int, **options) -> ModelSource:
    model = perturbed(name, resolution=resolution, **options)
    return ModelSource(model, name, Preprocessing(resolution), ["ant", "bee"] if model.num_classes == 2 else [])


def ops_of(path: Path) -> set[str]:
    return {node.op_type for node in onnx.load(str(path)).graph.node}


@pytest.mark.parametrize("name", mobilenet.list_models(task="classification"))
def test_every_registered_model_exports_and_matches(name: str, tmp_path: Path) -> None:
    # the legacy exporter is 30x faster to trace; the default (dynamo) exporter is checked per family below
    report = export_onnx(source_of(name, 96), tmp_path / "m.onnx", batch=2, exporter="torchscript")
    assert report.diff_random <= 1e-4
    assert {"HardSwish", "HardSigmoid"} & ops_of(tmp_path / "m.onnx") or "v3" not in name or "minimal" in name


@pytest.mark.parametrize("name", FAMILIES)
def test_default_exporter_per_family(name: str, tmp_path: Path, real_images: Path) -> None:
    resolution = 224 if name == "mobilenet_v3_small" else 128
    report = export_onnx(source_of(name, resolution), tmp_path / "m.onnx", check_images=real_images)
    assert report.real_images == min(8, len(list_images(real_images)))  # the check ran on the shared photos
    assert report.diff_real is not None and report.diff_real <= 1e-4
    assert report.diff_random <= 1e-4
    ops = ops_of(tmp_path / "m.onnx")
    assert "BatchNormalization" not in ops and "ReduceMean" not in ops
    if name in ("mobilenet_v3_large", "mobilenet_v3_small"):
        # one node per activation, not the Add/Clip/Div chain of opsets < 14
        assert {"HardSwish", "HardSigmoid"} <= ops and "Div" not in ops
    # dynamic batch: any batch runs and agrees
    session = make_session(tmp_path / "m.onnx")
    x = torch.randn(3, 3, resolution, resolution)
    got = session.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        expected = report and perturbed(name, resolution=resolution)(x).numpy()
    assert got.shape == (3, 1000) and np.abs(got - expected).max() <= 1e-4


def test_fixed_batch_and_metadata(tmp_path: Path) -> None:
    source = source_of("mobilenet_v3_small_075", 112, num_classes=2)
    export_onnx(source, tmp_path / "m.onnx", batch=4)
    shape = onnx.load(str(tmp_path / "m.onnx")).graph.input[0].type.tensor_type.shape
    assert [d.dim_value for d in shape.dim] == [4, 3, 112, 112]
    meta = read_metadata(tmp_path / "m.onnx")
    assert meta["class_names"] == ["ant", "bee"]
    assert meta["preprocessing"]["resolution"] == 112 and meta["preprocessing"]["resize"] == 128
    assert meta["preprocessing"]["mean"] == list(source.preprocessing.mean)
    assert mobilenet.create_model(meta["config"]).width_mult == 0.75 and meta["task"] == "classification"
    assert meta["outputs"] == ["logits"]


def test_checkpoint_exports_with_its_class_names(tmp_path: Path) -> None:
    source = source_of("mobilenet_v2_035", 96, num_classes=2)
    pre = {**source.preprocessing.to_dict(), "mean": [0.5] * 3, "std": [0.5] * 3}
    save_atomic({"format": FORMAT, "model_config": source.model.config.to_dict(), "state_dict": source.model.state_dict(),
                 "class_names": source.class_names, "preprocessing": pre}, tmp_path / "run" / "best.pt")
    loaded = open_source(str(tmp_path / "run"))
    assert loaded.class_names == ["ant", "bee"] and loaded.name == "run"
    report = export_onnx(loaded, tmp_path / "m.onnx", exporter="torchscript")
    meta = read_metadata(tmp_path / "m.onnx")
    assert report.diff_random <= 1e-4 and meta["config"]["num_classes"] == 2
    assert meta["preprocessing"]["mean"] == [0.5] * 3 and meta["class_names"] == ["ant", "bee"]


def test_failed_export_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "m.onnx"

    def broken(*args, **kwargs):
        raise RuntimeError("simulated crash in the middle of writing")

    monkeypatch.setattr(onnx_export, "set_metadata", broken)
    with pytest.raises(RuntimeError, match="simulated"):
        export_onnx(source_of("mobilenet_v1_025", 64), out, exporter="torchscript")
    assert list(tmp_path.iterdir()) == []


def test_mismatch_is_refused_and_not_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = onnx_export.compare
    monkeypatch.setattr(onnx_export, "compare", lambda *a: original(*a) + 1.0)
    with pytest.raises(ExportCheckError, match="differs from PyTorch"):
        export_onnx(source_of("mobilenet_v1_025", 64), tmp_path / "m.onnx", exporter="torchscript")
    assert not (tmp_path / "m.onnx").exists()


def test_existing_file_survives_a_failed_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "m.onnx"
    export_onnx(source_of("mobilenet_v1_025", 64), out, exporter="torchscript")
    before = out.read_bytes()
    monkeypatch.setattr(onnx_export, "make_session", lambda *a: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError):
        export_onnx(source_of("mobilenet_v1_050", 64), out, exporter="torchscript")
    assert out.read_bytes() == before and len(list(tmp_path.iterdir())) == 1


def test_corrupt_and_truncated_files_give_clear_errors(tmp_path: Path) -> None:
    good = tmp_path / "good.onnx"
    export_onnx(source_of("mobilenet_v1_025", 64), good, exporter="torchscript")
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"this is not a model at all" * 10)
    for bad in (truncated, garbage):
        with pytest.raises(ValueError, match="not a valid ONNX model.*re-export"):
            load_onnx(bad)
        with pytest.raises(ValueError, match="not a valid ONNX model"):
            make_session(bad)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        make_session(tmp_path / "missing.onnx")


def test_bad_requests_name_the_fix(tmp_path: Path) -> None:
    source = source_of("mobilenet_v1_025", 64)
    with pytest.raises(ValueError, match="opset 13 has no HardSwish"):
        export_onnx(source, tmp_path / "m.onnx", opset=13)
    with pytest.raises(ValueError, match="batch must be 'dynamic' or a positive integer"):
        export_onnx(source, tmp_path / "m.onnx", batch="many")
    with pytest.raises(ValueError, match="too small"):
        export_onnx(source, tmp_path / "m.onnx", resolution=16)
    with pytest.raises(FileNotFoundError, match="neither a registered model .* nor an existing"):
        open_source("mobilenet_v9")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="cannot read .*bad.pt"):
        open_source(str(bad))
    assert list(p.name for p in tmp_path.iterdir()) == ["bad.pt"]
