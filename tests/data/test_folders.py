"""Image folders: layouts, the seeded stratified split, colour modes, bad files, clear errors."""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from mobilenet.data.folders import folder_splits
from mobilenet.data.pipeline import AugmentedDataset
from mobilenet.data.split import stratified_split
from mobilenet.data.preprocessing import Preprocessing, eval_transform
from mobilenet.engine.config import resolve_config
from mobilenet.engine.trainer import train
from tests.data.helpers import write_digit_folder


def test_split_is_stratified_seeded_and_disjoint():
    targets = [0] * 50 + [1] * 30 + [2] * 20
    train_idx, val_idx = stratified_split(targets, 0.2, seed=7)
    assert not set(train_idx) & set(val_idx) and len(train_idx) + len(val_idx) == 100
    assert Counter(targets[i] for i in val_idx) == {0: 10, 1: 6, 2: 4}
    assert stratified_split(targets, 0.2, seed=7) == (train_idx, val_idx)
    assert stratified_split(targets, 0.2, seed=8) != (train_idx, val_idx)


def test_one_folder_is_split_and_the_split_is_reused(digit_folder):
    train, val, split = folder_splits(digit_folder, 0.25, seed=0)
    assert train.classes == ("0", "1", "2") and len(train) == 36 and len(val) == 12
    assert Counter(val.targets) == {0: 4, 1: 4, 2: 4}
    # a resumed run reads its saved split, even if the seed would now give another one
    again_train, again_val, _ = folder_splits(digit_folder, 0.5, seed=99, saved_split=split)
    assert again_train.samples == train.samples and again_val.samples == val.samples


def test_train_and_val_subfolders_are_used_as_given(tmp_path):
    write_digit_folder(tmp_path / "d" / "train", per_class=6)
    write_digit_folder(tmp_path / "d" / "val", per_class=2)
    train, val, split = folder_splits(tmp_path / "d", 0.2, seed=0)
    assert (len(train), len(val), split["kind"]) == (18, 6, "folders")


def test_colour_modes_become_rgb(tmp_path):
    root = tmp_path / "modes"
    (root / "a").mkdir(parents=True)
    base = Image.open(write_digit_folder(tmp_path / "src", (3,), per_class=1) / "3" / "0.png")
    base.convert("L").save(root / "a" / "gray.png")
    base.convert("RGBA").save(root / "a" / "rgba.png")
    base.convert("CMYK").save(root / "a" / "cmyk.jpg")
    base.convert("P").save(root / "a" / "palette.png")
    (root / "b").mkdir()
    base.convert("RGB").save(root / "b" / "rgb.jpg")
    base.convert("RGB").save(root / "b" / "rgb2.jpg")
    train, val, _ = folder_splits(root, 0.5, seed=0)
    dataset = AugmentedDataset(train, eval_transform(Preprocessing(32, 1.0)))
    for i in range(len(train)):
        image, _, _ = dataset[i]
        assert tuple(image.shape) == (3, 32, 32)


def test_empty_class_folder_and_empty_root_are_clear_errors(tmp_path, digit_folder):
    (digit_folder / "9").mkdir()
    (digit_folder / "9" / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match=r"class folder .*9' has no images"):
        folder_splits(digit_folder, 0.2, seed=0)
    (tmp_path / "flat").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "flat" / "x.png")
    with pytest.raises(ValueError, match="has no class folders"):
        folder_splits(tmp_path / "flat", 0.2, seed=0)
    with pytest.raises(FileNotFoundError, match="not found"):
        folder_splits(tmp_path / "nowhere", 0.2, seed=0)


def corrupt(folder: Path) -> list[Path]:
    """Two bad files among good ones: a truncated PNG and a text file named .jpg."""
    good = folder / "0" / "0.png"
    truncated = folder / "0" / "truncated.png"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    fake = folder / "1" / "fake.jpg"
    fake.write_text("this is not a JPEG")
    return [truncated, fake]


def test_unreadable_images_are_skipped_and_counted_in_one_warning(tmp_path, digit_folder):
    bad = corrupt(digit_folder)
    config = resolve_config(None, data=str(digit_folder), model="mobilenet_v3_small", width_mult=0.35,
                            resolution=32, val_fraction=0.25, epochs=2, batch_size=8, lr=0.01, workers=0,
                            progress=False, output=str(tmp_path / "runs"), name="bad")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train(config)
    messages = [str(w.message) for w in caught if "unreadable" in str(w.message)]
    assert len(messages) == 1, messages  # one warning for the run, not one per file or per epoch
    assert messages[0].startswith("skipped 2 unreadable or truncated image(s)")
    train_set, val_set, _ = folder_splits(digit_folder, 0.25, seed=0)
    assert {str(p) for p in bad} <= {s[0] for s in train_set.samples + val_set.samples}
    good_val = len(val_set) - sum(s[0] in {str(p) for p in bad} for s in val_set.samples)
    assert result.last.count == good_val
