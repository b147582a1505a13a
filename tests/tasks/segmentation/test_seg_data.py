"""Segmentation data: image/mask pairs, PASCAL VOC, class lists, splits, checks that name the file, and
the v2 transforms that move masks with their images."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from tests.tasks.segmentation.helpers import CLASSES, COLOURS, write_pairs
from mobilenet.data.preprocessing import Preprocessing
from mobilenet.tasks.segmentation.data import build_datasets, eval_dataset, pair_folder, read_mask, splits
from mobilenet.tasks.segmentation.transforms import EvalTransform, train_transform


def config(data: Path, **changes) -> SimpleNamespace:
    values = dict(data=str(data), val_data=None, val_fraction=0.25, seed=0, max_images=0)
    return SimpleNamespace(**{**values, **changes})


def test_pairs_by_mask_suffix_same_stem_and_masks_folder(tmp_path: Path) -> None:
    write_pairs(tmp_path / "a", 3)
    files = pair_folder(tmp_path / "a")
    assert len(files) == 3 and files.classes == CLASSES
    assert files.samples[0][1].endswith("img000_mask.png")
    write_pairs(tmp_path / "b", 2, mask_style="folder", classes_file=False)
    files = pair_folder(tmp_path / "b")
    assert files.samples[0][1].endswith("masks/img000.png") and files.classes == ("0", "1", "2")
    folder = tmp_path / "c"  # photo.jpg + photo.png: the PNG is the photo's mask, not another photo
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "photo.jpg")
    Image.fromarray(np.ones((8, 8), np.uint8)).save(folder / "photo.png")
    (folder / "classes.txt").write_text("sky\nground\n")
    files = pair_folder(folder)
    assert files.samples == [(str(folder / "photo.jpg"), str(folder / "photo.png"))] and files.classes == ("sky", "ground")


def test_voc_layout_reads_palette_masks_as_indices(tmp_path: Path) -> None:
    root = tmp_path / "VOC2012"
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True)
    for name, value in (("2007_000032", 15), ("2007_000033", 1)):
        Image.fromarray(np.full((10, 12, 3), 100, np.uint8)).save(root / "JPEGImages" / f"{name}.jpg")
        mask = Image.fromarray(np.pad(np.full((8, 10), value, np.uint8), 1, constant_values=255), mode="P")
        mask.putpalette([v for i in range(256) for v in (i, 255 - i, 0)])  # colours that are not the indices
        mask.save(root / "SegmentationClass" / f"{name}.png")
    (root / "ImageSets/Segmentation/train.txt").write_text("2007_000032\n")
    (root / "ImageSets/Segmentation/val.txt").write_text("2007_000033\n")
    train, val, split = splits(str(root), None, 0.2, 0, None)
    assert split["kind"] == "voc" and train.classes[15] == "person" and len(train.classes) == 21
    image, mask = train.load(0)
    assert image.size == (12, 10) and set(np.unique(mask.numpy())) == {15, 255}
    assert val.describe(0).endswith("2007_000033.jpg")


def test_bad_masks_are_errors_that_name_the_file(tmp_path: Path) -> None:
    write_pairs(tmp_path / "train", 4)
    write_pairs(tmp_path / "val", 2)
    bad = tmp_path / "train" / "img002_mask.png"
    Image.fromarray(np.full((40, 48), 7, np.uint8)).save(bad)
    with pytest.raises(ValueError, match=r"mask .*img002_mask.png holds class value\(s\) 7 outside the 3 classes"):
        build_datasets(config(tmp_path), None)
    Image.fromarray(np.zeros((39, 48), np.uint8)).save(bad)
    with pytest.raises(ValueError, match=r"mask .*img002_mask.png is 48x39 but its image .*img002.png is 48x40"):
        build_datasets(config(tmp_path), None)
    bad.unlink()
    with pytest.raises(ValueError, match="1 image.* have no mask \\(first: img002.png\\)"):
        build_datasets(config(tmp_path), None)
    Image.new("RGB", (4, 4)).save(bad)
    with pytest.raises(ValueError, match="is a RGB image; masks hold one class index per pixel"):
        read_mask(bad)


def test_splits_folders_val_data_and_a_saved_seeded_split(tmp_path: Path, pairs: Path) -> None:
    data = build_datasets(config(pairs), None)
    assert (len(data.train), len(data.val), data.class_names) == (12, 6, list(CLASSES))
    alone = build_datasets(config(pairs / "train", val_data=str(pairs / "val")), None)
    assert len(alone.train) == 12 and alone.split["val"] == str(pairs / "val")
    split = build_datasets(config(pairs / "train"), None)
    assert (len(split.train), len(split.val)) == (9, 3) and split.split["kind"] == "split"
    run = tmp_path / "run"
    run.mkdir()
    (run / "split.json").write_text(json.dumps({**split.split, "val": split.split["val"][:1],
                                                "train": split.split["train"]}))
    resumed = build_datasets(config(pairs / "train", seed=5), run)  # a resumed run keeps its own split
    assert [p for p, _ in resumed.val.samples] == split.split["val"][:1]
    with pytest.raises(ValueError, match="the model's"):
        eval_dataset(str(pairs / "val"), ["background", "other"], None)


def test_train_transform_moves_the_mask_with_the_image_and_pads_with_ignore(tmp_path: Path) -> None:
    write_pairs(tmp_path / "t", 4)
    files = pair_folder(tmp_path / "t")
    pre = Preprocessing(64, 1.0, "squash", mean=(0.0,) * 3, std=(1.0,) * 3)
    transform = train_transform(pre, scale_min=0.5, scale_max=0.5, hflip=1.0)  # shorter side 32, always flipped
    colours = torch.tensor(COLOURS, dtype=torch.float32) / 255
    for index in range(4):
        torch.manual_seed(index)
        image, mask = transform(*files.load(index))
        assert image.shape == (3, 64, 64) and mask.shape == (64, 64) and mask.dtype == torch.int64
        assert (mask == 255).float().mean() > 0.6  # a 38x32 image in a 64x64 crop: padded with "ignore"
        objects = (mask != 255) & (mask > 0)
        # the square's and bar's pixels have their class's colour: image and mask stayed aligned
        nearest = ((image.permute(1, 2, 0)[..., None, :] - colours).abs().sum(-1)).argmin(-1)
        agreement = (nearest[objects] == mask[objects]).float().mean()
        assert agreement > 0.6, agreement  # measured 0.74-0.96 (edges blur when shrinking); flipped masks 0.1-0.26


def test_eval_transform_resizes_masks_by_nearest_neighbour(pairs: Path) -> None:
    image, mask = pair_folder(pairs / "val").load(0)
    x, y = EvalTransform(Preprocessing(33, 1.0, "squash"))(image, mask)
    assert x.shape == (3, 33, 33) and y.shape == (33, 33)
    assert set(torch.unique(y).tolist()) <= {0, 1, 2, 255}
