"""Images for predict: every PIL mode becomes RGB; broken files are skipped with a reason."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mobilenet.data.images import ImageError, load_images, open_rgb
from mobilenet.data.preprocessing import eval_transform

PRE = {"resolution": 32, "crop_pct": 0.875, "mean": [0.5] * 3, "std": [0.5] * 3, "interpolation": "bilinear"}


@pytest.mark.parametrize("mode, suffix", [("L", ".png"), ("RGBA", ".png"), ("CMYK", ".jpg"), ("P", ".png"),
                                          ("I;16", ".png"), ("LA", ".png"), ("1", ".bmp")])
def test_modes_become_rgb(mode, suffix, tmp_path):
    path = tmp_path / f"image{suffix}"
    Image.new(mode, (40, 30)).save(path)
    image = open_rgb(path)
    assert image.mode == "RGB" and image.size == (40, 30)


def test_transparent_pixels_are_white(tmp_path):
    path = tmp_path / "clear.png"
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(path)
    assert np.asarray(open_rgb(path)).min() == 255


def test_preprocess_shapes_and_scaling():
    image = Image.new("RGB", (300, 200), (255, 0, 127))
    tensor = eval_transform(PRE)(image)
    assert tensor.shape == (3, 32, 32)
    assert torch.allclose(tensor[:, 0, 0], torch.tensor([1.0, -1.0, 127 / 127.5 - 1]), atol=1e-6)
    assert eval_transform({**PRE, "resize_mode": "squash", "crop_pct": 1.0})(image).shape == (3, 32, 32)


def test_resize_without_antialias_samples_like_tf():
    # TF's resize_bilinear at 1/4: output pixel i samples source x = 4i + 1.5, the mean of pixels 4i+1
    # and 4i+2, ignoring 4i and 4i+3; PIL's antialiasing filter averages all four and more.
    row = np.array([0, 100, 200, 0, 0, 100, 200, 0], dtype=np.uint8)
    image = Image.fromarray(np.repeat(np.tile(row, (8, 1))[..., None], 3, axis=2))
    pre = {**PRE, "resolution": 2, "crop_pct": 1.0, "resize_mode": "squash", "mean": [0.0] * 3, "std": [1 / 255] * 3}
    assert torch.equal(eval_transform({**pre, "antialias": False})(image), torch.full((3, 2, 2), 150.0))
    assert not torch.equal(eval_transform(pre)(image), torch.full((3, 2, 2), 150.0))


def test_broken_files_are_skipped_with_reasons(tmp_path):
    good = tmp_path / "good.jpg"
    Image.new("RGB", (64, 48), (10, 200, 30)).save(good, quality=95)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    batch = load_images([text, good, truncated, tmp_path / "missing.png", tmp_path], PRE)
    assert batch.paths == [str(good)] and batch.tensor.shape == (1, 3, 32, 32)
    reasons = dict(batch.skipped)
    assert "not an image" in reasons[str(text)]
    assert "cannot decode" in reasons[str(truncated)]
    assert "no such file" in reasons[str(tmp_path / "missing.png")]
    assert "folder" in reasons[str(tmp_path)]
    with pytest.raises(ImageError, match="notes.jpg"):
        open_rgb(text)
