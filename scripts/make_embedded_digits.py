"""Build backprop/data/digits.npz, the embedded digits returned by `bp.datasets.digits()`.

A stratified random sample of MNIST, drawn with NumPy's PCG64 from seed 0:
500 images of each digit from the 60,000 training images (5,000 for training) and
100 of each digit from the 10,000 test images (1,000 for validation). The file keeps
the uint8 pixels (n, 28, 28), the labels (uint8) and the indices of the chosen
images in the original files, compressed with zlib (np.savez_compressed).

    python scripts/make_embedded_digits.py [MNIST_DIR]   # default ../shared/data/mnist
"""

import sys
from pathlib import Path

import numpy as np

from backprop.datasets import IMAGES_MAGIC, LABELS_MAGIC, read_idx

PER_CLASS = {"train": 500, "t10k": 100}


def sample(labels: np.ndarray, per_class: int, rng) -> np.ndarray:
    """Sorted indices of ``per_class`` images of each digit, drawn without replacement."""
    return np.sort(np.concatenate([
        rng.choice(np.flatnonzero(labels == digit), per_class, replace=False)
        for digit in range(10)]))


def main():
    root = Path(__file__).resolve().parents[1]
    mnist = Path(sys.argv[1]) if len(sys.argv) > 1 else root.parent / "shared" / "data" / "mnist"
    rng = np.random.default_rng(0)
    arrays = {}
    for split, out in (("train", "train"), ("t10k", "val")):
        images = read_idx(mnist / f"{split}-images-idx3-ubyte.gz", IMAGES_MAGIC)
        labels = read_idx(mnist / f"{split}-labels-idx1-ubyte.gz", LABELS_MAGIC)
        index = sample(labels, PER_CLASS[split], rng)
        arrays[f"{out}_images"] = images[index]
        arrays[f"{out}_labels"] = labels[index]
        arrays[f"{out}_index"] = index.astype(np.int32)
    target = root / "backprop" / "data" / "digits.npz"
    np.savez_compressed(target, **arrays)
    print(f"wrote {target} ({target.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
