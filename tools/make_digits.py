"""Write ``src/mobilenet/data/digits.npz``: the demo's 1,797 handwritten digits, once, from scikit-learn.

The images are scikit-learn's copy (``sklearn.datasets.load_digits``) of the test set of the UCI
"Optical Recognition of Handwritten Digits" data set (E. Alpaydin, C. Kaynak, 1998; UCI Machine
Learning Repository, CC BY 4.0): 8x8 counts of on-pixels in 4x4 blocks of 32x32 bitmaps, 0..16.
They are stored as uint8 (exact: every value is an integer) with their labels, so the package
needs neither scikit-learn nor scipy. ``tests/data/test_digits.py`` compares the file with
scikit-learn wherever it is installed.

    python tools/make_digits.py        # needs scikit-learn (the test extra installs it)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

OUT = Path(__file__).resolve().parents[1] / "src" / "mobilenet" / "data" / "digits.npz"
SOURCE = ("scikit-learn's load_digits(): the test set of the UCI Optical Recognition of Handwritten Digits "
          "data set (Alpaydin, Kaynak 1998), CC BY 4.0, "
          "https://archive.ics.uci.edu/ml/datasets/Optical+Recognition+of+Handwritten+Digits")


def main() -> None:
    bunch = load_digits()
    images = bunch.images.astype(np.uint8)
    if not np.array_equal(images, bunch.images) or images.max() > 16:
        raise SystemExit("scikit-learn's digits are not integers in 0..16; refusing to round them")
    np.savez_compressed(OUT, images=images, targets=bunch.target.astype(np.uint8), source=np.array(SOURCE))
    print(f"wrote {OUT.relative_to(OUT.parents[3])}: {images.shape[0]} images, {OUT.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
