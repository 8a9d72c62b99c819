"""Data for the command line: the data sets a run names, what their labels mean, targets.

A run's data are ``digits``, ``mnist`` or a CSV file (with an optional validation CSV).
The *task* says what a CSV's label column holds: ``classification`` (class numbers
0..K−1) or ``regression`` (values). It is ``--task``, else implied by ``--loss``
(cross-entropies classify, squared error regresses), else read from the labels: whole
numbers 0..19 are classes, any other fraction-bearing label a value, and whole numbers
outside 0..19 are ambiguous (the diabetes data's 25–346) and must be said with
``--task``. Labels are checked before a network is built from them: negative, huge or
fractional class labels, or more classes than samples, are refused with a message
about the labels. CSV files are recorded by absolute path, size and SHA-256, so a
resumed run reads them from anywhere and refuses a changed file.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import datasets
from ..errors import BackpropError

BUILT_IN = ("digits", "mnist")
TASKS = ("classification", "regression")
AUTO_CLASSES = 20
CLASSIFIERS = ("cross_entropy", "sigmoid_cross_entropy")


@dataclass
class Split:
    """One named part of the data: features X and raw labels y (host arrays)."""

    name: str
    X: np.ndarray
    y: np.ndarray


def is_csv(data) -> bool:
    return isinstance(data, str) and data.lower().endswith(".csv")


def load(data, label_column="-1", val_data=None, data_dir=None, files=None):
    """``(splits, files)``: the training split first, then validation splits if any, and the
    CSV fingerprints ``{"data": [size, sha256], …}`` (checked against ``files`` if given)."""
    if data in BUILT_IN:
        (X, y), (Xv, yv) = datasets.digits() if data == "digits" else datasets.mnist(data_dir)
        return [Split("train", X, y), Split("validation", Xv, yv)], {}
    if not is_csv(data):
        raise BackpropError(f"--data must be digits, mnist or a .csv file; got {data!r}")
    column = _label_column(label_column)
    splits, found = [], {}
    for key, path in (("data", data), ("val_data", val_data)):
        if path is None:
            continue
        found[key] = fingerprint(path, f"--{key.replace('_', '-')}")
        if files and key in files and files[key] != found[key]:
            raise BackpropError(
                f"{path} has changed since the run was trained on it ({found[key][0]:,} bytes, "
                f"SHA-256 {found[key][1][:12]}… instead of {files[key][0]:,} bytes, "
                f"{files[key][1][:12]}…): the run needs the same data")
        X, y = datasets.load_csv(path, column)
        splits.append(Split(Path(path).name if key == "data" else f"validation {Path(path).name}",
                            X, y))
    return splits, found


def _label_column(value):
    try:
        return int(value)
    except ValueError:
        return value


def fingerprint(path, option):
    """``[size, sha256]`` of a data file, read in chunks."""
    digest, size = hashlib.sha256(), 0
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise BackpropError(f"CSV file {path} ({option}) is not a regular file")
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise BackpropError(f"cannot read CSV file {path} ({option}): {exc.strerror}") from None
    return [size, digest.hexdigest()]


def task(given, loss, data, splits):
    """``(task, why)``: the task of a run (see the module docstring)."""
    if data in BUILT_IN:
        if given == "regression":
            raise BackpropError(f"--task regression needs a CSV file: {data} holds classes")
        return "classification", "digit classes"
    if given is not None:
        return given, "--task"
    if loss is not None:
        return ("classification" if loss in CLASSIFIERS else "regression"), f"--loss {loss}"
    y = np.concatenate([split.y for split in splits])
    if y.dtype != np.int64:
        return "regression", "the labels are not all whole numbers"
    if y.min() >= 0 and y.max() < AUTO_CLASSES:
        return "classification", f"whole-number labels 0..{y.max()}"
    raise BackpropError(
        f"{data}: the labels are whole numbers from {y.min()} to {y.max()} "
        f"({np.unique(y).size} distinct values), which may be classes or values: say which "
        f"with --task classification or --task regression")


def loss_for(task_, loss):
    """The loss of a run: --loss, else cross_entropy for classification, squared_error for
    regression; regression only with squared_error."""
    if loss is None:
        return "cross_entropy" if task_ == "classification" else "squared_error"
    if task_ == "regression" and loss != "squared_error":
        raise BackpropError(f"--loss {loss} is for classification; --task regression trains "
                            f"with --loss squared_error")
    return loss


def check_labels(split):
    """Raise unless the split's labels are class numbers: whole numbers >= 0."""
    y = split.y
    if y.dtype != np.int64:
        bad = y[(y != np.round(y)) | (np.abs(y) > 2.0 ** 53)][0]
        raise BackpropError(f"{split.name}: class labels must be whole numbers 0..K−1; got "
                            f"{bad:g} (for values to predict, use --task regression)")
    if y.min() < 0:
        raise BackpropError(f"{split.name}: class labels must be whole numbers 0..K−1; got "
                            f"{y.min()} (number the classes from 0, e.g. -1/1 as 0/1)")


def n_classes(splits):
    """K for class labels 0..K−1 in every split, after checking they are such labels."""
    for split in splits:
        check_labels(split)
    K = max(int(split.y.max()) for split in splits) + 1
    rows = sum(split.y.shape[0] for split in splits)
    if K > rows:
        raise BackpropError(f"the class labels go up to {K - 1}: more classes than the {rows} "
                            f"samples; number the classes 0..K−1 (for values to predict, use "
                            f"--task regression)")
    if K < 2:
        raise BackpropError("the labels hold only class 0: classification needs two classes")
    return K


def n_outputs(task_, loss, K):
    """Outputs of the network: K classes (one sigmoid for two classes), or one value."""
    if task_ == "regression":
        return 1
    return 1 if loss == "sigmoid_cross_entropy" and K == 2 else K


def targets(split, task_, loss, outputs):
    """The split's targets as ``loss`` wants them for a network with ``outputs`` outputs:
    labels for cross-entropy, one-hot rows for squared error or several sigmoids, 0/1 for
    one sigmoid, values for regression. Labels the network cannot output are refused."""
    y = split.y
    if task_ == "regression":
        if outputs != 1:
            raise BackpropError(f"{split.name}: one target value per row, but the model has "
                                f"{outputs} outputs")
        return y.astype(np.float32)
    K = 2 if outputs == 1 else outputs
    check_labels(split)
    if y.max() >= K:
        raise BackpropError(f"{split.name}: the labels go up to {int(y.max())} but the model "
                            f"has {K} classes (0..{K - 1})")
    if loss == "cross_entropy":
        return y
    if outputs == 1:
        return y.astype(np.float32)
    return np.eye(K, dtype=np.float32)[y]
