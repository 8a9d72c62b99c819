"""Reading ``.npz`` files that may come from anyone, every size checked before it is used.

An ``.npz`` file is a ZIP archive of ``.npy`` members. ``np.load`` trusts what both
layers claim: a member's header may declare any shape (an allocation of that size), and
a deflated member may inflate to a thousand times its size. `NpzReader` reads a file
the way `backprop.io` needs it, as data:

* only a regular file, with a sound ZIP directory: unique member names, no encryption,
  only stored or deflated members, members that lie inside the file without overlapping;
* a member's ``.npy`` header is parsed first (``np.lib.format``, no pickle) and its dtype
  and shape are returned to the caller to check, before any of its data is read;
* the member must hold exactly the bytes its header declares, and the members read may
  together claim at most `MAX_RATIO` times their compressed size (plus `SLACK`), so a
  zip bomb is refused before anything is inflated; data are read in bounded chunks and
  checked against the ZIP's CRC-32.

Every problem raises one `BackpropError` naming the file and the member.
"""

from __future__ import annotations

import math
import os
import stat
import struct
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import BackpropError

MAX_RATIO = 32          # deflate shrinks trained float weights by little; zero-filled bombs ~1000×
SLACK = 1 << 20         # small members that compress well (zero biases) stay readable
CHUNK = 1 << 20
MAX_HEADER = 10_000     # bytes of a .npy header (NumPy's own limit)
FAILURES = (ValueError, TypeError, SyntaxError, EOFError, OSError, zipfile.BadZipFile,
            zlib.error, struct.error, NotImplementedError, RuntimeError)


class NpzReader:
    """An open ``.npz`` file: `names`, `header(name)`, `array(name, …)`, `text(name, …)`."""

    def __init__(self, path, what="model file"):
        self.path = Path(path)
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            raise BackpropError(f"{what} {self.path} does not exist") from None
        except OSError as exc:
            raise BackpropError(f"cannot read {what} {self.path}: {exc.strerror}") from None
        if not stat.S_ISREG(info.st_mode):
            raise BackpropError(f"{what} {self.path} is not a regular file")
        self.size = info.st_size
        self._claimed = self._compressed = 0
        self._opened = set()
        try:
            self._file = open(self.path, "rb")
            self._zip = zipfile.ZipFile(self._file)
            members = self._zip.infolist()
        except FAILURES as exc:
            self.close()
            raise BackpropError(f"{self.path} is not a readable backprop {what} (truncated or "
                                f"foreign): {type(exc).__name__}: {exc}") from None
        try:
            self._members = self._check_directory(members)
        except BackpropError:
            self.close()
            raise
        self.names = set(self._members)

    def close(self):
        for part in ("_zip", "_file"):
            if getattr(self, part, None) is not None:
                getattr(self, part).close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def error(self, message):
        return BackpropError(f"{self.path}: {message}")

    def _check_directory(self, members):
        """{name without .npy: ZipInfo}, after checking what the ZIP directory claims."""
        found = {}
        end = getattr(self._zip, "start_dir", self.size)
        previous = None
        for info in sorted(members, key=lambda i: i.header_offset):
            if info.filename in found or info.filename.removesuffix(".npy") in found:
                raise self.error(f"member {info.filename!r} appears twice")
            if info.flag_bits & 0x1:
                raise self.error(f"member {info.filename!r} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise self.error(f"member {info.filename!r} uses compression method "
                                 f"{info.compress_type}; only stored or deflated members are read")
            if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
                raise self.error(f"stored member {info.filename!r} claims {info.file_size} bytes "
                                 f"but occupies {info.compress_size}")
            start = info.header_offset
            if previous is not None and start < previous:
                raise self.error(f"member {info.filename!r} overlaps the member before it")
            previous = start + 30 + len(info.filename.encode()) + info.compress_size
            if start < 0 or previous > end:
                raise self.error(f"member {info.filename!r} extends beyond the archive")
            found[info.filename.removesuffix(".npy")] = info
        return found

    def _open(self, name):
        """The member's stream; the first time, its claimed size is charged to the budget."""
        info = self._members.get(name)
        if info is None:
            raise self.error(f"array {name} is missing")
        if name not in self._opened:
            self._opened.add(name)
            self._claimed += info.file_size
            self._compressed += info.compress_size
            if self._claimed > MAX_RATIO * self._compressed + SLACK:
                raise self.error(
                    f"its members claim {self._claimed:,} bytes uncompressed from "
                    f"{self._compressed:,} compressed bytes (more than {MAX_RATIO}×): refused "
                    f"as a possible zip bomb")
        return self._zip.open(info)

    def header(self, name):
        """``(dtype, shape)`` declared by member ``name``'s ``.npy`` header (no data read)."""
        with self._guard(name):
            with self._open(name) as f:
                return read_header(f, None, f"array {name}", self.error)[:2]

    def _header(self, name, f, expected=None):
        """The header, checked against ``expected`` (dtype, shape) if given, then against the
        bytes the member holds."""
        dtype, shape, fortran, nbytes = read_header(f, None, f"array {name}", self.error)
        if expected is not None and (dtype.newbyteorder("=") != expected[0]
                                     or shape != tuple(expected[1])):
            raise self.error(f"array {name} must be {expected[0]} {tuple(expected[1])}; found "
                             f"{dtype} {shape}")
        _check_size(nbytes, self._members[name].file_size - f.tell(), dtype, shape,
                    f"array {name}", self.error)
        return dtype, shape, fortran, nbytes

    def array(self, name, dtype, shape):
        """Member ``name`` as a writable host array, after checking it is ``dtype`` (any byte
        order) of exactly ``shape``; raise naming the file otherwise."""
        dtype = np.dtype(dtype)
        with self._guard(name):
            with self._open(name) as f:
                found, _, fortran, nbytes = self._header(name, f, (dtype, shape))
                data = self._read(name, f, nbytes)
        array = np.frombuffer(data, dtype=found).reshape(shape, order="F" if fortran else "C")
        return array if found.isnative else array.astype(dtype)

    def text(self, name, limit):
        """Member ``name``, a 0-d NumPy string of at most ``limit`` bytes, as a `str`."""
        with self._guard(name):
            with self._open(name) as f:
                dtype, shape, _, nbytes = self._header(name, f)
                if dtype.kind != "U" or shape != ():
                    raise self.error(f"{name} must be a text string; found {dtype} {shape}")
                if nbytes > limit:
                    raise self.error(f"{name} holds {nbytes:,} bytes; at most {limit:,} are read")
                data = self._read(name, f, nbytes)
            return np.frombuffer(data, dtype=dtype)[0].item()

    def _read(self, name, f, nbytes):
        """Exactly ``nbytes`` of member data, in bounded chunks; the CRC is checked at the end."""
        data = bytearray(nbytes)
        view, filled = memoryview(data), 0
        while filled < nbytes:
            chunk = f.read(min(CHUNK, nbytes - filled))
            if not chunk:
                raise self.error(f"array {name} is truncated")
            view[filled:filled + len(chunk)] = chunk
            filled += len(chunk)
        if f.read(1):
            raise self.error(f"array {name} has data beyond its declared shape")
        return data

    @contextmanager
    def _guard(self, name):
        """Turn the errors of reading one member (ZIP, zlib, .npy header) into one
        BackpropError naming the file and the member."""
        try:
            yield
        except BackpropError:
            raise
        except FAILURES as exc:
            raise self.error(f"array {name} cannot be read: {type(exc).__name__}: "
                             f"{exc}".splitlines()[0]) from None


def read_header(f, size, what, error):
    """``(dtype, shape, fortran_order, nbytes)`` from the ``.npy`` header at the start of the
    stream ``f``: only plain numbers or text; if ``size`` (the stream's length) is given,
    exactly as many data bytes as it holds after the header. ``error(message)`` makes
    the exception."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f, MAX_HEADER)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f, MAX_HEADER)
    else:
        raise error(f"{what} has .npy format version {version}; 1.0 or 2.0 is read")
    if not all(isinstance(n, int) and n >= 0 for n in shape):
        raise error(f"{what} declares the shape {shape!r}")
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise error(f"{what} has dtype {dtype}; plain numbers or text are read")
    nbytes = math.prod(shape) * dtype.itemsize
    if size is not None:
        _check_size(nbytes, size - f.tell(), dtype, shape, what, error)
    return dtype, shape, fortran, nbytes


def _check_size(nbytes, held, dtype, shape, what, error):
    if nbytes != held:
        raise error(f"{what} declares shape {shape} of {dtype} ({nbytes:,} bytes) but holds "
                    f"{held:,} bytes")


def read_npy(path):
    """A ``.npy`` file as a host array, its header checked against the file's size before
    any data is read (no pickle; plain numbers only). Errors name the file."""
    path = Path(path)

    def error(message):
        return BackpropError(f"{path}: {message}")

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise error("not a regular file")
        with open(path, "rb") as f:
            dtype, shape, fortran, nbytes = read_header(f, os.fstat(f.fileno()).st_size,
                                                        "the array", error)
            data = bytearray(nbytes)
            if f.readinto(data) != nbytes:
                raise error("the array is truncated")
    except FileNotFoundError:
        raise BackpropError(f"{path} does not exist") from None
    except BackpropError:
        raise
    except FAILURES as exc:
        raise BackpropError(f"cannot read {path} as a .npy array: {type(exc).__name__}: "
                            f"{exc}".splitlines()[0]) from None
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
