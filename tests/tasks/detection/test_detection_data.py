"""Detection data: the four formats detected automatically, bad annotations skipped or refused, splits."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from mobilenet.data.preprocessing import Preprocessing
from mobilenet.tasks.detection.data import build_datasets, eval_dataset
from mobilenet.tasks.detection.formats import read_annotations
from mobilenet.tasks.detection.transforms import EvalTransform, TrainTransform


def image(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 120, 200)).save(path)
    return path


def voc_xml(name: str, objects: list[tuple[str, tuple]], size: tuple[int, int] = (64, 48)) -> str:
    boxes = "".join(f"<object><name>{n}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax>"
                    f"<ymax>{b[3]}</ymax></bndbox></object>" for n, b in objects)
    return (f"<annotation><filename>{name}</filename><size><width>{size[0]}</width><height>{size[1]}</height>"
            f"</size>{boxes}</annotation>")


@pytest.fixture
def voc(tmp_path: Path) -> Path:
    root = tmp_path / "voc"
    (root / "annotations").mkdir(parents=True)
    for i in range(4):
        image(root / "images" / f"{i}.jpg")
    files = {
        "0.xml": voc_xml("0.jpg", [("dog", (5, 6, 30, 40)), ("cat", (40, 2, 60, 20))]),
        "1.xml": voc_xml("1.jpg", [("cat", (10, 10, 10, 30)), ("cat", (70, 50, 90, 60)), ("dog", (50, 30, 80, 60))]),
        "2.xml": "<annotation><filename>2.jpg</filename><object><name>cat",     # truncated
        "3.xml": voc_xml("missing.jpg", [("cat", (1, 1, 9, 9))]),
    }
    for name, text in files.items():
        (root / "annotations" / name).write_text(text)
    return root


def test_voc_folders_are_read_with_bad_annotations_counted(voc: Path) -> None:
    with pytest.warns(UserWarning, match=r"skipped 4 bad annotation\(s\): 1.xml: a box of zero area.*\(4 in all\)"):
        splits = read_annotations(voc)
    data = splits["all"]
    assert [s.split(":")[0] for s in data.skipped] == ["1.xml", "1.xml", "2.xml", "3.xml"]
    assert "a box outside the 64x48 image" in data.skipped[1] and "malformed" in data.skipped[2]
    assert data.skipped[3] == "3.xml: image missing.jpg not found"
    assert data.format == "voc" and data.classes == ["cat", "dog"]
    assert [s.image.name for s in data.samples] == ["0.jpg", "1.jpg"]
    np.testing.assert_array_equal(data.samples[0].labels, [1, 0])
    np.testing.assert_allclose(data.samples[1].boxes, [[50, 30, 64, 48]])   # clipped to the image


def write_yolo(root: Path, lines: dict[str, str], names: list[str]) -> Path:
    for split in ("train", "valid"):
        for stem, text in lines.items():
            image(root / split / "images" / f"{stem}.jpg", (80, 40))
            if text is not None:
                (root / split / "labels").mkdir(parents=True, exist_ok=True)
                (root / split / "labels" / f"{stem}.txt").write_text(text)
    (root / "data.yaml").write_text(f"path: .\ntrain: train/images\nval: valid/images\nnames: {names}\n")
    return root


def test_yolo_splits_background_images_and_malformed_labels(tmp_path: Path) -> None:
    root = write_yolo(tmp_path / "yolo", {"a": "0 0.5 0.5 0.5 0.5\n1 0.25 0.5 0.2 1.2\n", "b": None,
                                          "c": "0 0.5 0.5 zero 0.1\n"}, ["fish", "shark"])
    with pytest.warns(UserWarning, match=r"skipped 1 bad annotation\(s\): c.txt: malformed"):
        splits = read_annotations(root)
    assert set(splits) == {"train", "val"} and splits["train"].classes == ["fish", "shark"]
    samples = {s.image.stem: s for s in splits["train"].samples}
    assert set(samples) == {"a", "b"} and samples["b"].boxes.shape == (0, 4) and samples["a"].normalized
    np.testing.assert_allclose(samples["a"].boxes[1], [0.15, 0.0, 0.35, 1.0], atol=1e-6)   # clipped to [0, 1]


def test_an_unknown_yolo_class_is_refused(tmp_path: Path) -> None:
    root = write_yolo(tmp_path / "yolo", {"a": "2 0.5 0.5 0.5 0.5\n"}, ["fish", "shark"])
    with pytest.raises(ValueError, match=r"a.txt: class index 2 is not among the 2 names \(0..1: fish, shark\)"):
        read_annotations(root / "data.yaml")


def coco_file(path: Path, annotations: list[dict]) -> Path:
    image(path.parent / "x.jpg", (100, 50))
    path.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "x.jpg", "width": 100, "height": 50}],
        "categories": [{"id": 0, "name": "creatures", "supercategory": "none"},
                       {"id": 1, "name": "fish", "supercategory": "creatures"},
                       {"id": 2, "name": "shark", "supercategory": "creatures"}],
        "annotations": annotations}))
    return path


def test_coco_files_skip_bad_boxes_and_the_umbrella_category(tmp_path: Path) -> None:
    path = coco_file(tmp_path / "coco" / "_annotations.coco.json", [
        {"id": 1, "image_id": 1, "category_id": 2, "bbox": [10, 5, 20, 10]},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [10, 5, 0, 10]},
        {"id": 3, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3]},
        {"id": 4, "image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 50], "iscrowd": 1}])
    with pytest.warns(UserWarning, match=r"skipped 2 bad annotation\(s\)"):
        data = read_annotations(path.parent)["all"]
    assert data.format == "coco" and data.classes == ["fish", "shark"]
    np.testing.assert_allclose(data.samples[0].boxes, [[10, 5, 30, 15]])
    np.testing.assert_array_equal(data.samples[0].labels, [1])


def test_an_unknown_coco_category_is_refused(tmp_path: Path) -> None:
    path = coco_file(tmp_path / "c.json", [{"id": 7, "image_id": 1, "category_id": 9, "bbox": [1, 1, 5, 5]}])
    with pytest.raises(ValueError, match=r"c.json \(annotation 7\): unknown category_id 9"):
        read_annotations(path)


def test_csv_boxes_find_their_images(tmp_path: Path) -> None:
    image(tmp_path / "images" / "r1.jpg")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("filename,width,height,class,xmin,ymin,xmax,ymax\n"
                                                 "r1.jpg,64,48,raccoon,1,2,30,40\nr1.jpg,64,48,raccoon,x,2,30,40\n")
    with pytest.warns(UserWarning, match="row 2\\): a box that is not four numbers"):
        data = read_annotations(tmp_path / "data" / "train.csv")["all"]
    assert data.format == "csv" and data.samples[0].image == tmp_path / "images" / "r1.jpg"
    (tmp_path / "bad.csv").write_text("name,x\n")
    with pytest.raises(ValueError, match="missing column\\(s\\) filename"):
        read_annotations(tmp_path / "bad.csv")


@pytest.mark.parametrize(("setup", "message"), [
    (lambda p: p.mkdir(), "no detection annotations found; expected PASCAL VOC XML"),
    (lambda p: p.write_text("x"), "unknown annotation file type"),
])
def test_unknown_sources_name_the_formats(tmp_path: Path, setup, message: str) -> None:
    target = tmp_path / ("empty" if "no detection" in message else "boxes.txt")
    setup(target)
    with pytest.raises(ValueError, match=message):
        read_annotations(target)
    with pytest.raises(FileNotFoundError, match="not found"):
        read_annotations(tmp_path / "nothing")


def settings(data: Path, val_data: Path | None = None, **changes) -> SimpleNamespace:
    return SimpleNamespace(**{"data": str(data), "val_data": str(val_data) if val_data else None,
                              "val_fraction": 0.5, "seed": 0, "max_images": 0, **changes})


def test_splits_come_from_the_data_or_a_saved_random_split(voc: Path, tmp_path: Path) -> None:
    with pytest.warns(UserWarning):
        data = build_datasets(settings(voc), None)
    assert (len(data.train), len(data.val)) == (1, 1) and data.split["val_indices"]
    run = tmp_path / "run"
    run.mkdir()
    (run / "split.json").write_text(json.dumps({"val_indices": [0]}))
    with pytest.warns(UserWarning):
        again = build_datasets(settings(voc, seed=5), run)
    assert again.val.samples[0].image.name == "0.jpg"
    yolo = write_yolo(tmp_path / "yolo", {"a": "1 0.5 0.5 0.5 0.5\n", "b": "0 0.5 0.5 0.2 0.2\n"}, ["fish", "shark"])
    data = build_datasets(settings(yolo / "data.yaml"), None)
    assert "val_indices" not in data.split and len(data.train) == len(data.val) == 2


def test_validation_classes_must_be_the_models(voc: Path) -> None:
    with pytest.warns(UserWarning):
        with pytest.raises(ValueError, match="class\\(es\\) dog are not among the model's classes \\(cat\\)"):
            eval_dataset(str(voc), ["cat"], None)
        data = eval_dataset(str(voc), ["person", "dog", "cat"], None)
    assert data.classes == ["person", "dog", "cat"]
    np.testing.assert_array_equal(data.samples[0].labels, [1, 2])


def test_transforms_keep_boxes_with_their_objects(voc: Path) -> None:
    with pytest.warns(UserWarning):
        data = eval_dataset(str(voc), ["cat", "dog"], None)
    picture, target = data.load(0)
    pre = Preprocessing(96, crop_pct=1.0, resize_mode="squash")
    x, normalised = EvalTransform(pre)(picture, target)
    assert x.shape == (3, 96, 96) and normalised["size"].tolist() == [48, 64]
    np.testing.assert_allclose(normalised["boxes"][0], [5 / 64, 6 / 48, 30 / 64, 40 / 48], atol=1e-6)
    train = TrainTransform(pre, zoom_out=2.0)
    for seed in range(8):
        torch.manual_seed(seed)
        x, augmented = train(picture, target)
        boxes = augmented["boxes"]
        assert x.shape == (3, 96, 96) and len(boxes) == len(augmented["labels"]) <= 2
        assert ((boxes >= 0) & (boxes <= 1)).all() and (boxes[:, 2:] > boxes[:, :2]).all()
    with pytest.raises(ValueError, match="zoom_out must be >= 1"):
        TrainTransform(pre, zoom_out=0.5)
