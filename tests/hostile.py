"""Crafting hostile model and checkpoint files for the hardening tests (issue 12).

Everything here writes bytes by hand (``np.lib.format`` headers, ``zipfile`` members,
patched ZIP records) so that a test can say exactly what a file claims and what it holds.
"""

import io
import json
import struct
import tracemalloc
import zipfile
from contextlib import contextmanager

import numpy as np

import backprop as bp


def tiny_net(seed=3, dtype="float32"):
    return bp.Sequential([bp.Dense(4, 5, "relu"), bp.Dense(5, 3, "softmax")], seed=seed,
                         dtype=dtype)


def npy(array) -> bytes:
    """The .npy bytes of ``array`` as np.save writes them."""
    f = io.BytesIO()
    np.lib.format.write_array(f, np.asanyarray(array), allow_pickle=True)
    return f.getvalue()


def npy_claiming(shape, descr="<f4", data=b"", fortran=False, version=(1, 0)) -> bytes:
    """A .npy header that declares ``shape`` and ``descr``, followed by ``data`` (any length)."""
    f = io.BytesIO()
    header = {"descr": descr, "fortran_order": fortran, "shape": shape}
    if version == (1, 0):
        np.lib.format.write_array_header_1_0(f, header)
    else:
        np.lib.format.write_array_header_2_0(f, header)
    return f.getvalue() + data


def members(path) -> dict:
    """{member name: bytes} of a .npz file."""
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def write_zip(path, content, compression=zipfile.ZIP_STORED):
    """Write {name: bytes} as a ZIP file."""
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in content.items():
            z.writestr(name, data)


def meta_of(path) -> dict:
    with np.load(path) as f:
        return json.loads(str(f["meta"]))


def with_meta(path, meta, out=None):
    """Rewrite ``path`` (a saved model) with another JSON record (any JSON value or text)."""
    content = members(path)
    text = meta if isinstance(meta, str) else json.dumps(meta)
    content["meta.npy"] = npy(np.asarray(text))
    write_zip(out or path, content)


def with_members(path, changes, out=None, compression=zipfile.ZIP_STORED):
    """Rewrite ``path`` with members replaced ({name: bytes}) or removed (None)."""
    content = members(path)
    content.update(changes)
    write_zip(out or path, {k: v for k, v in content.items() if v is not None}, compression)


def central_records(data: bytes):
    """Offsets of the ZIP central-directory records in ``data``."""
    offsets, start = [], 0
    while (i := data.find(b"PK\x01\x02", start)) != -1:
        offsets.append(i)
        start = i + 4
    return offsets


def patch(data: bytes, offset: int, fmt: str, value) -> bytes:
    return data[:offset] + struct.pack(fmt, value) + data[offset + struct.calcsize(fmt):]


@contextmanager
def peak_memory():
    """Yield a list that receives the peak traced allocation (bytes) of the block."""
    result = []
    tracemalloc.start()
    try:
        yield result
    finally:
        result.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
