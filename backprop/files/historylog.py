"""The learning curves as a CSV file (``history.csv``), written in full or as the run goes.

One row per iteration t = 1, 2, …: ``iteration,cost,error,val_cost,val_error``, the
validation columns filled where the validation set was evaluated and ``error`` columns
empty for losses without misclassification. Numbers are written with ``repr``, the
shortest text that reads back as the same float, so a file read back gives the
bit-identical `History`.

`HistoryLog` appends each epoch's rows to the file as the run goes (what `Checkpoint`
does after every epoch), so a checkpoint stores three counts — rows, bytes and the
CRC-32 of those bytes — instead of the whole history: the cost of a checkpoint does
not grow with the length of the run. Rows after the counts (an epoch whose checkpoint
was never written) are dropped when the run continues.
"""

from __future__ import annotations

import os
import stat
import zlib
from pathlib import Path

from . import atomic
from ..errors import BackpropError

HEADER = "iteration,cost,error,val_cost,val_error\n"


def csv_text(history, start=0) -> str:
    """The rows of iterations ``start + 1 …`` of ``history`` (no header)."""
    val = {t: i for i, t in enumerate(history.val_iteration)}
    lines = []
    for t in range(start + 1, history.iterations + 1):
        i = val.get(t)
        cells = [t, history.cost[t - 1], _at(history.error, t - 1),
                 _at(history.val_cost, i), _at(history.val_error, i)]
        lines.append(",".join(c if isinstance(c, str) else repr(c) for c in cells) + "\n")
    return "".join(lines)


def _at(values, i):
    return "" if i is None or i >= len(values) else values[i]


def write_csv(history, path):
    """Write the whole ``history`` to ``path`` atomically."""
    data = (HEADER + csv_text(history)).encode()
    atomic.write(path, lambda f: f.write(data))


class HistoryLog:
    """``history.csv`` appended epoch by epoch; `state` is what a checkpoint stores of it."""

    def __init__(self, path, rows=0, size=0, crc32=0):
        self.path, self.rows, self.size, self.crc32 = Path(path), rows, size, crc32

    def append(self, history):
        """Write the rows of ``history`` not yet in the file (and cut any rows after
        ``size`` that an interrupted epoch left), then sync the file to disk."""
        data = ((HEADER if self.size == 0 else "") + csv_text(history, self.rows)).encode()
        try:
            with open(self.path, "wb" if self.size == 0 else "r+b") as f:
                f.seek(self.size)
                f.write(data)
                f.truncate()
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            if exc.errno is not None and exc.filename is None:
                exc.filename = str(self.path)
            raise
        self.rows, self.size = history.iterations, self.size + len(data)
        self.crc32 = zlib.crc32(data, self.crc32)

    def state(self) -> dict:
        return {"file": self.path.name, "rows": self.rows, "bytes": self.size,
                "crc32": self.crc32}

    @classmethod
    def resume(cls, path, rows, size, crc32):
        """``(fields, log)``: the `History` fields read back from the first ``size`` bytes of
        ``path``, checked against ``rows`` and ``crc32``, and the log to continue."""
        path = Path(path)
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):     # it will be written to: no links
                raise BackpropError(f"the history {path} is not a regular file")
            with open(path, "rb") as f:
                data = f.read(size) if os.fstat(f.fileno()).st_size >= size else b""
        except OSError as exc:
            raise BackpropError(f"cannot read the history {path}: {exc.strerror}") from None
        if len(data) < size or zlib.crc32(data) != crc32:
            raise BackpropError(
                f"the history {path} does not match its checkpoint ("
                f"{'shorter than' if len(data) < size else 'changed since'} it was written)")
        return _parse(data, path, rows), cls(path, rows, size, crc32)


def _parse(data, path, rows):
    """History fields from the bytes of a history CSV of ``rows`` iterations."""
    lines = data.decode("utf-8", errors="replace").split("\n")
    if lines[0] + "\n" != HEADER or lines[-1] != "" or len(lines) != rows + 2:
        raise BackpropError(f"the history {path} is not a history of {rows} iterations")
    fields = {"cost": [], "error": [], "val_iteration": [], "val_cost": [], "val_error": []}
    for t, line in enumerate(lines[1:-1], start=1):
        cells = line.split(",")
        try:
            if len(cells) != 5 or int(cells[0]) != t:
                raise ValueError("expected iteration,cost,error,val_cost,val_error")
            fields["cost"].append(float(cells[1]))
            if cells[2]:
                fields["error"].append(float(cells[2]))
            if cells[3]:
                fields["val_iteration"].append(t)
                fields["val_cost"].append(float(cells[3]))
            if cells[4]:
                fields["val_error"].append(float(cells[4]))
        except ValueError as exc:
            raise BackpropError(f"the history {path}, line {t + 1}: {exc}") from None
    return fields


def check_fields(fields, where):
    """Raise unless ``fields`` (lists of numbers) form a consistent `History`: one cost per
    iteration, errors for all or none, validation at increasing iterations within the run."""
    n, val = len(fields["cost"]), fields["val_iteration"]
    if len(fields["error"]) not in (0, n) or len(fields["val_cost"]) != len(val) \
            or len(fields["val_error"]) not in (0, len(val)):
        raise BackpropError(f"{where}: its curves have inconsistent lengths")
    if any(b <= a for a, b in zip(val, val[1:])) or (val and not 1 <= val[0] <= val[-1] <= n):
        raise BackpropError(f"{where}: its validation iterations are not increasing within "
                            f"1..{n}")
