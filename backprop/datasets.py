"""Data sets: the embedded digits, MNIST (seed 001, Example 6.1) and CSV files.

This is data loading: it reads files with NumPy and returns host arrays (features
float32 in [0, 1] for images, labels int64), which `fit` moves to the model's device.

* `digits` — a fixed sample of real MNIST digits that ships inside the package
  (``backprop/data/digits.npz``, built by ``scripts/make_embedded_digits.py``):
  5,000 training images (500 per class) from MNIST's training set and 1,000
  validation images (100 per class) from its test set, drawn with seed 0.
* `mnist` — the four standard IDX files from ``data_dir``, the cache directory or a
  public mirror (downloaded with pooch and checked against their SHA-256).
* `load_csv` — features and a label column from a CSV file (`backprop.files.csvfile`).
* the seeds' synthetic problems, from `backprop.synthetic`: `xor` (seed 001),
  `curve` (Figure 5.3) and `two_class` with its Bayes posterior (Figure 5.4).

MNIST (LeCun, Cortes, Burges) is available under CC BY-SA 3.0.
"""

from __future__ import annotations

import gzip
import math
import os
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np

from .files.csvfile import load_csv, read_csv  # noqa: F401 (re-exported)
from .errors import BackpropError
from .synthetic import curve, two_class, two_class_posterior, xor  # noqa: F401 (re-exported)

MNIST_FILES = {
    "train-images-idx3-ubyte.gz":
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz":
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz":
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz":
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
EMBEDDED = Path(__file__).with_name("data") / "digits.npz"


def digits():
    """The embedded digits: ``(X_train, y_train), (X_val, y_val)``, 5,000 + 1,000 images.

    Each row of X is a 28×28 image flattened row by row (784 pixels, float32 in [0, 1]);
    y holds the labels 0–9 (int64). No file outside the package and no network is needed.
    """
    with np.load(EMBEDDED, allow_pickle=False) as f:
        return ((_scale(f["train_images"]), f["train_labels"].astype(np.int64)),
                (_scale(f["val_images"]), f["val_labels"].astype(np.int64)))


def _scale(images: np.ndarray) -> np.ndarray:
    """uint8 pixels (n, 28, 28) → float32 rows (n, 784) in [0, 1]."""
    return (images.reshape(images.shape[0], -1) / np.float32(255)).astype(np.float32)


def cache_dir() -> Path:
    """Where downloaded data sets live: ``$BACKPROP_DATA`` if set, else ``~/.cache/backprop``."""
    root = os.environ.get("BACKPROP_DATA")
    if root:
        return Path(root).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "backprop"


def mnist(data_dir=None, download=True):
    """MNIST: ``(X_train, y_train), (X_test, y_test)`` with 60,000 and 10,000 images.

    The four IDX files (``train-images-idx3-ubyte.gz`` etc., gzip or uncompressed) are
    read from ``data_dir``, by default ``cache_dir() / "mnist"``. Missing files are
    downloaded there from a public mirror when ``download`` is true (needs the ``pooch``
    package; each file is checked against its SHA-256); otherwise, or when no mirror
    can be reached, a `BackpropError` says where to put them. Pixels are float32 in
    [0, 1], one image per row (784 columns); labels are int64 0–9.
    """
    folder = Path(data_dir).expanduser() if data_dir is not None else cache_dir() / "mnist"
    paths = {}
    for name, sha256 in MNIST_FILES.items():
        path = _find(folder, name)
        if path is None:
            if not download:
                raise BackpropError(_missing(folder, "download=False"))
            path = _download(name, sha256, folder)
        paths[name] = path
    X_train = _scale(read_idx(paths["train-images-idx3-ubyte.gz"], IMAGES_MAGIC,
                              (60_000, 28, 28)))
    y_train = read_idx(paths["train-labels-idx1-ubyte.gz"], LABELS_MAGIC, (60_000,))
    X_test = _scale(read_idx(paths["t10k-images-idx3-ubyte.gz"], IMAGES_MAGIC, (10_000, 28, 28)))
    y_test = read_idx(paths["t10k-labels-idx1-ubyte.gz"], LABELS_MAGIC, (10_000,))
    y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)
    for split, X, y in (("train", X_train, y_train), ("t10k", X_test, y_test)):
        if X.shape[1] != 28 * 28:
            raise BackpropError(f"MNIST {split} images must be 28×28 pixels; got {X.shape[1]}")
        if X.shape[0] != y.shape[0]:
            raise BackpropError(
                f"MNIST {split} files disagree: {X.shape[0]} images but {y.shape[0]} labels")
        if y.size and int(y.max()) > 9:
            raise BackpropError(f"MNIST {split} labels must be 0–9; found {int(y.max())}")
    return (X_train, y_train), (X_test, y_test)


def _find(folder: Path, name: str):
    """``folder/name`` (gzip) or ``folder/name`` without ``.gz`` (raw), whichever exists."""
    for candidate in (folder / name, folder / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def _missing(folder: Path, why: str) -> str:
    return (f"MNIST files not found in {folder} ({why}): put "
            f"{', '.join(MNIST_FILES)} (gzip or uncompressed) there or in a folder you name, "
            f"or set BACKPROP_DATA to a folder containing mnist/")


def _download(name: str, sha256: str, folder: Path) -> Path:
    """Fetch one file with pooch from the first mirror that answers, verifying its SHA-256."""
    try:
        import pooch
    except ImportError as exc:
        raise BackpropError(
            _missing(folder, "downloading needs pooch: pip install pooch")) from exc
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # no "Downloading…" line: errors stay one line on the CLI
    try:
        return _retrieve(pooch, name, sha256, folder)
    finally:
        logger.setLevel(level)


def _retrieve(pooch, name, sha256, folder):
    failures = []
    for mirror in MIRRORS:
        url = mirror + name
        try:
            path = pooch.retrieve(url, known_hash=f"sha256:{sha256}", fname=name, path=folder,
                                  downloader=_downloader(url), progressbar=False)
            return Path(path)
        except Exception as exc:  # network, HTTP and checksum errors alike: try the next mirror
            failures.append(f"{url}: {type(exc).__name__}: {exc}".splitlines()[0])
    raise BackpropError(_missing(folder, "download failed — " + "; ".join(failures)))


def _downloader(url: str):
    """pooch's downloader for ``url``; ``file://`` URLs (local mirrors) are copied."""
    if url.startswith("file://"):
        def copy(url, output_file, pooch_):
            data = Path(url2pathname(urlparse(url).path)).read_bytes()
            if hasattr(output_file, "write"):
                output_file.write(data)
            else:
                Path(output_file).write_bytes(data)
        return copy
    return None


def read_idx(path, magic: int, max_shape=None) -> np.ndarray:
    """Read an IDX file (gzip or raw) of unsigned bytes, checking its header and size.

    IDX: a big-endian int32 magic number (2051 for images, 2049 for labels: 0x08 =
    uint8 data, then the number of dimensions), one big-endian int32 per dimension,
    then the data. Returns a uint8 array of those dimensions. The header is read first;
    with ``max_shape`` every dimension must be at most its entry, and only the bytes the
    header declares are read (a gzip file never inflates beyond them).
    """
    path = Path(path)
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    try:
        with open(path, "rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
        with (gzip.open if gzipped else open)(path, "rb") as f:
            head = f.read(header)
            if len(head) >= 4 and int.from_bytes(head[:4], "big") != magic:
                raise BackpropError(
                    f"{path} has magic number {int.from_bytes(head[:4], 'big')}; expected "
                    f"{magic} ({'images' if magic == IMAGES_MAGIC else 'labels'} IDX file)")
            if len(head) < 4:
                raise BackpropError(f"{path} is not an IDX file: only {len(head)} bytes")
            if len(head) < header:
                raise BackpropError(f"{path} is truncated: its header needs {header} bytes")
            shape = tuple(int.from_bytes(head[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
            if max_shape is not None and any(n > m for n, m in zip(shape, max_shape)):
                raise BackpropError(f"{path} declares the shape {shape}; at most {max_shape} "
                                    f"is read")
            size = math.prod(shape)
            data = f.read(size + 1)
    except (OSError, EOFError) as exc:
        raise BackpropError(f"cannot read IDX file {path}: {exc}") from exc
    if len(data) != size:
        raise BackpropError(
            f"{path} has {header + len(data)}{'' if len(data) <= size else '+'} bytes but its "
            f"header {shape} needs {header + size}{' (truncated)' if len(data) < size else ''}")
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)
