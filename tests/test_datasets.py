"""Data sets: the embedded digits, the IDX parser, MNIST loading/downloading, CSV files."""

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

import backprop as bp
from backprop import datasets

MNIST_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
needs_mnist = pytest.mark.skipif(not MNIST_DIR.is_dir(), reason="../shared/data/mnist absent")


def idx_bytes(array, magic):
    """An IDX file written independently of the parser: header by hand, then the bytes."""
    array = np.asarray(array, dtype=np.uint8)
    head = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return head + array.tobytes()


def write_mnist(folder, n_train=12, n_test=5, compress=True, seed=0):
    """Four small MNIST-format files with random pixels and labels; returns the arrays."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        arrays[split] = images, labels
        for kind, array, magic in (("images-idx3", images, 2051), ("labels-idx1", labels, 2049)):
            data = idx_bytes(array, magic)
            name = f"{split}-{kind}-ubyte"
            if compress:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
    return arrays


def test_digits_are_a_stratified_sample_in_unit_range():
    (X, y), (Xv, yv) = bp.datasets.digits()
    assert X.shape == (5000, 784) and Xv.shape == (1000, 784)
    assert X.dtype == np.float32 and y.dtype == np.int64
    assert 0.0 == X.min() and X.max() == 1.0
    assert np.bincount(y).tolist() == [500] * 10 and np.bincount(yv).tolist() == [100] * 10
    assert Path(datasets.EMBEDDED).stat().st_size < 2_000_000


@needs_mnist
def test_digits_are_the_documented_mnist_images():
    (X, y), (Xv, yv) = bp.datasets.digits()
    with np.load(datasets.EMBEDDED) as f:
        train_index, val_index = f["train_index"], f["val_index"]
    (Xm, ym), (Xt, yt) = bp.datasets.mnist(MNIST_DIR, download=False)
    np.testing.assert_array_equal(X, Xm[train_index])
    np.testing.assert_array_equal(y, ym[train_index])
    np.testing.assert_array_equal(Xv, Xt[val_index])
    np.testing.assert_array_equal(yv, yt[val_index])


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_reads_gzip_and_raw(tmp_path, compress):
    images = np.arange(2 * 3 * 4).reshape(2, 3, 4) % 256
    data = idx_bytes(images, 2051)
    path = tmp_path / "x.idx"
    path.write_bytes(gzip.compress(data) if compress else data)
    np.testing.assert_array_equal(datasets.read_idx(path, 2051), images)


def test_read_idx_rejects_foreign_and_damaged_files(tmp_path):
    good = idx_bytes(np.zeros((3, 2, 2)), 2051)
    cases = {
        "magic": (idx_bytes(np.zeros(3), 2049), "magic number 2049; expected 2051"),
        "truncated": (good[:-1], "truncated"),
        "header": (good[:9], "header needs 16 bytes"),
        "tiny": (b"\x00\x00", "only 2 bytes"),
        "long": (good + b"\x00", "needs 28"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(bp.BackpropError, match=message):
            datasets.read_idx(path, 2051)
    broken = tmp_path / "broken.gz"
    broken.write_bytes(gzip.compress(good)[:-6])
    with pytest.raises(bp.BackpropError, match="broken.gz"):
        datasets.read_idx(broken, 2051)


@pytest.mark.parametrize("compress", [True, False])
def test_mnist_from_a_folder_scales_pixels(tmp_path, compress):
    arrays = write_mnist(tmp_path, compress=compress)
    (X, y), (Xt, yt) = bp.datasets.mnist(tmp_path, download=False)
    assert X.shape == (12, 784) and Xt.shape == (5, 784)
    assert X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(X * 255, arrays["train"][0].reshape(12, 784), atol=1e-4)
    np.testing.assert_array_equal(yt, arrays["t10k"][1])


def test_mnist_checks_that_images_and_labels_agree(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(np.zeros(4), 2049)))
    with pytest.raises(bp.BackpropError, match="5 images but 4 labels"):
        bp.datasets.mnist(tmp_path, download=False)


def test_mnist_offline_without_files_says_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKPROP_DATA", str(tmp_path / "cache"))
    with pytest.raises(bp.BackpropError) as info:
        bp.datasets.mnist(download=False)
    message = str(info.value)
    assert str(tmp_path / "cache" / "mnist") in message
    assert "train-images-idx3-ubyte.gz" in message and "BACKPROP_DATA" in message


def local_mirror(tmp_path, monkeypatch, folder):
    """Point the downloader at a file:// mirror of ``folder`` with the files' real hashes."""
    monkeypatch.setattr(datasets, "MIRRORS", (folder.as_uri() + "/",))
    monkeypatch.setattr(datasets, "MNIST_FILES", {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
        for name in datasets.MNIST_FILES})
    monkeypatch.setenv("BACKPROP_DATA", str(tmp_path / "cache"))


def test_mnist_downloads_verifies_and_caches(tmp_path, monkeypatch):
    pytest.importorskip("pooch")
    arrays = write_mnist(tmp_path / "mirror")
    local_mirror(tmp_path, monkeypatch, tmp_path / "mirror")
    (X, y), _ = bp.datasets.mnist()
    cached = tmp_path / "cache" / "mnist"
    assert sorted(p.name for p in cached.iterdir()) == sorted(datasets.MNIST_FILES)
    np.testing.assert_array_equal(y, arrays["train"][1])
    for path in (tmp_path / "mirror").iterdir():
        path.unlink()
    (X2, _), _ = bp.datasets.mnist()  # now from the cache, the mirror being empty
    np.testing.assert_array_equal(X, X2)


def test_mnist_download_rejects_a_wrong_checksum(tmp_path, monkeypatch):
    pytest.importorskip("pooch")
    write_mnist(tmp_path / "mirror")
    local_mirror(tmp_path, monkeypatch, tmp_path / "mirror")
    monkeypatch.setitem(datasets.MNIST_FILES, "t10k-labels-idx1-ubyte.gz", "0" * 64)
    with pytest.raises(bp.BackpropError, match="download failed.*t10k-labels"):
        bp.datasets.mnist()
    assert not (tmp_path / "cache" / "mnist" / "t10k-labels-idx1-ubyte.gz").exists()


def test_mnist_unreachable_mirror_gives_one_clear_error(tmp_path, monkeypatch):
    pytest.importorskip("pooch")
    monkeypatch.setattr(datasets, "MIRRORS", ((tmp_path / "nowhere").as_uri() + "/",))
    monkeypatch.setenv("BACKPROP_DATA", str(tmp_path / "cache"))
    with pytest.raises(bp.BackpropError, match="download failed"):
        bp.datasets.mnist()


@needs_mnist
def test_real_mnist_through_the_download_path(tmp_path, monkeypatch):
    pytest.importorskip("pooch")
    monkeypatch.setattr(datasets, "MIRRORS", (MNIST_DIR.as_uri() + "/",))
    monkeypatch.setenv("BACKPROP_DATA", str(tmp_path))
    (X, y), (Xt, yt) = bp.datasets.mnist()  # checked against the published SHA-256
    assert X.shape == (60000, 784) and Xt.shape == (10000, 784)
    assert np.bincount(y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265,
                                       5851, 5949]
    assert np.bincount(yt).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert X.min() == 0.0 and X.max() == 1.0


def test_load_csv_with_header_and_label_by_name(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("label,a,b\n1,0.5,2\n0,1.5,-1\n")
    X, y = bp.datasets.load_csv(path, label_column="label")
    np.testing.assert_array_equal(X, np.array([[0.5, 2], [1.5, -1]], dtype=np.float32))
    assert y.tolist() == [1, 0] and y.dtype == np.int64 and X.dtype == np.float32


def test_load_csv_without_header_float_targets(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("0.1,0.25\n0.2,0.5\n")
    X, y = bp.datasets.load_csv(path)
    assert X.shape == (2, 1) and y.dtype == np.float32 and y.tolist() == [0.25, 0.5]


@pytest.mark.parametrize("text, column, message", [
    ("a,b\n1,x\n", -1, r"line 2, column 2 \(lines and columns counted from 1\): 'x' is not a number"),
    ("a,b\n", -1, "no data rows"),
    ("1\n2\n", -1, "two columns"),
    ("a,b\n1,2\n", "c", "not a column"),
    ("1,2\n3,4\n", 5, "column index"),
])
def test_load_csv_errors(tmp_path, text, column, message):
    path = tmp_path / "d.csv"
    path.write_text(text)
    with pytest.raises(bp.BackpropError, match=message):
        bp.datasets.load_csv(path, label_column=column)


def test_synthetic_problems_are_reachable_from_datasets():
    from backprop import synthetic

    X, y = bp.datasets.xor()
    np.testing.assert_array_equal(X, synthetic.xor()[0])
    assert y.ravel().tolist() == [0, 1, 1, 0]
    assert bp.datasets.curve is synthetic.curve and bp.datasets.two_class is synthetic.two_class
