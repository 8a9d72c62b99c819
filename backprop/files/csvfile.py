"""CSV files of numbers: features and a label column (data loading; host NumPy arrays).

The text is UTF-8 (with or without a byte-order mark; UTF-16 and UTF-32 files with one
are read too), comma-separated, one sample per line; a first line that is not all
numbers is the header; blank lines and ``#`` comments are skipped. NumPy parses the
table; when it fails, the file is scanned again to say where, in the file's own terms:
lines and columns are counted from 1, line 1 being the file's first line (the header,
if any). Every value must be a finite number within float32's range.
"""

from __future__ import annotations

import codecs
import io
import os
import stat
import warnings
from pathlib import Path

import numpy as np

from ..errors import BackpropError

FLOAT32_MAX = float(np.finfo(np.float32).max)
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"))
COUNTING = "lines and columns counted from 1"


def read_csv(path):
    """A CSV file of numbers as ``(table, names)``: a float64 array (n, columns) and the
    header's column names, or None when the first line is numbers (no header)."""
    path = Path(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):     # not a device or a pipe that never ends
            raise BackpropError(f"CSV file {path} is not a regular file")
        data = path.read_bytes()
    except OSError as exc:
        raise BackpropError(f"cannot read CSV file {path}: {exc.strerror or exc}") from None
    text = _decode(data, path)
    lines = text.split("\n")
    first = next((i for i, cells in _rows(lines, 0)), None)
    if first is None:
        raise BackpropError(f"CSV file {path} is empty")
    names = [cell.strip() for cell in _cells(lines[first])]
    header = not all(_number(cell) is not None for cell in names)
    skip = first + 1 if header else 0
    try:
        with warnings.catch_warnings():  # an empty table is reported below, not as a warning
            warnings.simplefilter("ignore", UserWarning)
            table = np.loadtxt(io.StringIO(text), delimiter=",", skiprows=skip, ndmin=2,
                               dtype=np.float64, comments="#")
    except ValueError:
        raise BackpropError(_where_unreadable(lines, skip, path)) from None
    if table.shape[0] == 0:
        raise BackpropError(f"CSV file {path} has no data rows")
    if header and len(names) != table.shape[1]:
        raise BackpropError(f"CSV file {path}: the header (line {first + 1}) names "
                            f"{len(names)} columns but the rows have {table.shape[1]}")
    bad = ~(np.abs(table) <= FLOAT32_MAX)            # NaN, ±Inf and beyond float32
    if bad.any():
        i, j = np.argwhere(bad)[0]
        line = [k for k, _ in _rows(lines, skip)][i] + 1
        raise BackpropError(
            f"CSV file {path}, line {line}, column {j + 1} ({COUNTING}): {table[i, j]:g} is not "
            f"a finite number within float32's range (±{FLOAT32_MAX:.3g})")
    return table, names if header else None


def load_csv(path, label_column=-1):
    """Features and labels from a CSV file: ``(X, y)`` with X float32, one row per sample.

    ``label_column`` is the index (negative from the end) or the header name of the
    label column. A first line that is not all numbers is taken as the header. Labels
    that are all whole numbers (up to 2⁵³) come back as int64 (class labels), otherwise
    float32; the caller decides what they mean.
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
    whole = np.all(y == np.round(y)) and np.all(np.abs(y) <= 2.0 ** 53)
    return X, (y.astype(np.int64) if whole else y.astype(np.float32))


def _decode(data: bytes, path) -> str:
    codec = next((codec for bom, codec in BOMS if data.startswith(bom)), "utf-8")
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise BackpropError(
            f"CSV file {path} is not {codec.upper().removesuffix('-SIG')} text: line {line} "
            f"holds the byte 0x{data[exc.start]:02x}; save the file as UTF-8") from None
    if "\x00" in text:
        raise BackpropError(f"CSV file {path} holds NUL characters (UTF-16 without a "
                            f"byte-order mark?); save the file as UTF-8")
    return text


def _cells(line):
    return line.split("#", 1)[0].rstrip("\r").split(",")


def _rows(lines, start):
    """``(index, cells)`` of the lines from ``start`` that hold data (not blank, not comments)."""
    for i in range(start, len(lines)):
        cells = _cells(lines[i])
        if len(cells) > 1 or cells[0].strip():
            yield i, cells


def _number(cell):
    """The cell's value, or None if NumPy would not read it as a number."""
    cell = cell.strip()
    if not cell or "_" in cell:
        return None
    try:
        return float(cell)
    except ValueError:
        return None


def _where_unreadable(lines, skip, path) -> str:
    """The message for a table NumPy could not parse: the first line, column and cell at fault."""
    width = first = None
    for i, cells in _rows(lines, skip):
        if width is None:
            width, first = len(cells), i
        if len(cells) != width:
            return (f"CSV file {path}, line {i + 1} ({COUNTING}): {len(cells)} columns, but "
                    f"line {first + 1} (the first data line) has {width}")
        for j, cell in enumerate(cells):
            if _number(cell) is None:
                what = ("the cell is empty" if not cell.strip()
                        else f"{cell.strip()[:40]!r} is not a number")
                return f"CSV file {path}, line {i + 1}, column {j + 1} ({COUNTING}): {what}"
    return f"CSV file {path} cannot be read as a table of numbers"
