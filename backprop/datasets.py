"""Data sets: the embedded digits, MNIST (seed 001, Example 6.1) and CSV files.

This is data loading: it reads files with NumPy and returns host arrays (features
float32 in [0, 1] for images, labels int64), which `fit` moves to the model's device.

* `digits` — a fixed sample of real MNIST digits that ships inside the package
  (``backprop/data/digits.npz``, built by ``scripts/make_embedded_digits.py``):
  5,000 training images (500 per class) from MNIST's training set and 1,000
  validation images (100 per class) from its test set, drawn with seed 0.
* `mnist` — the four standard IDX files from ``data_dir``, the cache directory or a
  public mirror (downloaded with pooch and checked against their SHA-256).
* `load_csv` — features and a label column from a CSV file.
* the seeds' synthetic problems, from `backprop.synthetic`: `xor` (seed 001),
  `curve` (Figure 5.3) and `two_class` with its Bayes posterior (Figure 5.4).

MNIST (LeCun, Cortes, Burges) is available under CC BY-SA 3.0.
"""

from __future__ import annotations

import gzip
import os
import warnings
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np

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
    X_train = _scale(read_idx(paths["train-images-idx3-ubyte.gz"], IMAGES_MAGIC))
    y_train = read_idx(paths["train-labels-idx1-ubyte.gz"], LABELS_MAGIC).astype(np.int64)
    X_test = _scale(read_idx(paths["t10k-images-idx3-ubyte.gz"], IMAGES_MAGIC))
    y_test = read_idx(paths["t10k-labels-idx1-ubyte.gz"], LABELS_MAGIC).astype(np.int64)
    for split, X, y in (("train", X_train, y_train), ("t10k", X_test, y_test)):
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
            f"{', '.join(MNIST_FILES)} (gzip or uncompressed) there, pass "
            f"data_dir=..., or set BACKPROP_DATA to a folder containing mnist/")


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


def read_idx(path, magic: int) -> np.ndarray:
    """Read an IDX file (gzip or raw) of unsigned bytes, checking its header and size.

    IDX: a big-endian int32 magic number (2051 for images, 2049 for labels: 0x08 =
    uint8 data, then the number of dimensions), one big-endian int32 per dimension,
    then the data. Returns a uint8 array of those dimensions.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(2)
        opener = gzip.open if head == b"\x1f\x8b" else open
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise BackpropError(f"cannot read IDX file {path}: {exc}") from exc
    if len(data) < 4:
        raise BackpropError(f"{path} is not an IDX file: only {len(data)} bytes")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise BackpropError(
            f"{path} has magic number {found}; expected {magic} "
            f"({'images' if magic == IMAGES_MAGIC else 'labels'} IDX file)")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise BackpropError(f"{path} is truncated: its header needs {header} bytes")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise BackpropError(
            f"{path} has {len(data)} bytes but its header {shape} needs {expected}"
            f"{' (truncated)' if len(data) < expected else ''}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def read_csv(path):
    """A CSV file of numbers as ``(table, names)``: a float64 array (n, columns) and the
    header's column names, or None when the first line is numbers (no header)."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            first = f.readline()
    except OSError as exc:
        raise BackpropError(f"cannot read CSV file {path}: {exc}") from exc
    names = [cell.strip() for cell in first.split(",")]
    header = not all(_is_number(cell) for cell in names)
    try:
        with warnings.catch_warnings():  # an empty file is reported below, not as a warning
            warnings.simplefilter("ignore", UserWarning)
            table = np.loadtxt(path, delimiter=",", skiprows=int(header), ndmin=2,
                               dtype=np.float64)
    except ValueError as exc:
        raise BackpropError(f"CSV file {path} must hold numbers only: {exc}") from exc
    if table.shape[0] == 0:
        raise BackpropError(f"CSV file {path} has no data rows")
    return table, names if header else None


def load_csv(path, label_column=-1):
    """Features and labels from a CSV file: ``(X, y)`` with X float32, one row per sample.

    ``label_column`` is the index (negative from the end) or the header name of the
    label column. A first line that is not all numbers is taken as the header. Labels
    that are all whole numbers come back as int64 (class labels), otherwise float32.
    """
    table, names = read_csv(path)
    if table.shape[1] < 2:
        raise BackpropError(
            f"CSV file {path} must have at least two columns (features and a label); "
            f"got {table.shape[1]}")
    if isinstance(label_column, str):
        if names is None or label_column not in names:
            raise BackpropError(
                f"label_column {label_column!r} is not a column of {path}; header: {names}")
        label_column = names.index(label_column)
    if not -table.shape[1] <= label_column < table.shape[1]:
        raise BackpropError(
            f"label_column must be a column index in [{-table.shape[1]}, {table.shape[1] - 1}] "
            f"for {path}; got {label_column}")
    y = table[:, label_column]
    X = np.delete(table, label_column, axis=1).astype(np.float32)
    y = y.astype(np.int64) if np.all(y == np.round(y)) else y.astype(np.float32)
    return X, y


def _is_number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False
