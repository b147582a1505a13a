"""The shipped digits (``mobilenet/data/digits.npz``) are scikit-learn's, value for value."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mobilenet.data.digits import load_digits_images, load_scans


def test_shipped_scans_are_the_1797_optdigits_test_images():
    scans, targets = load_scans()
    assert scans.shape == (1797, 8, 8) and scans.dtype == np.uint8 and scans.max() == 16
    # the UCI optdigits test set's class counts (178 zeros ... 180 nines)
    assert Counter(targets.tolist()) == {0: 178, 1: 182, 2: 177, 3: 183, 4: 181, 5: 182, 6: 181, 7: 179,
                                         8: 174, 9: 180}


def test_shipped_scans_equal_scikit_learns():
    datasets = pytest.importorskip("sklearn.datasets")
    bunch = datasets.load_digits()
    scans, targets = load_scans()
    assert np.array_equal(scans.astype(np.float64), bunch.images)
    assert np.array_equal(targets, bunch.target)


@pytest.mark.parametrize("resolution", [32, 64])
def test_upscaled_images_equal_the_ones_made_from_scikit_learn(resolution):
    """The demo sees the same tensors as before the file was shipped: same accuracy, same seed."""
    datasets = pytest.importorskip("sklearn.datasets")
    bunch = datasets.load_digits()
    pixels = torch.from_numpy(bunch.images).float().unsqueeze(1) / 16.0
    upscaled = F.interpolate(pixels, size=(resolution, resolution), mode="bilinear", align_corners=False)
    expected = (upscaled.clamp(0, 1) * 255).round().to(torch.uint8)
    images, targets = load_digits_images(resolution)
    assert torch.equal(images, expected) and targets == bunch.target.tolist()
