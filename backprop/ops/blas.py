"""C ← α·A·B + β·C in one BLAS call, through the BLAS that NumPy itself is linked to.

NumPy's ``matmul`` always overwrites its output, so the SGD update W ← W − γ dW needs
dW in a buffer and a second pass over W to add it. BLAS ``gemm`` computes
C ← α·op(A)·op(B) + β·C: with β = 1 (or 1 − γλ under weight decay) and the product
being −γ dW (γ is folded into dZ), the update happens inside the product, and the
buffer and the pass disappear (6.23a). NumPy does not expose ``gemm``; the wheels on
PyPI ship OpenBLAS as ``scipy-openblas`` (a library with prefixed symbols), which this
module opens with ctypes. NumPy's build configuration says whether it is there and
whether its integers are 64-bit. Elsewhere (another BLAS, an unknown layout, a dtype
other than float32/float64) `gemm` declines and `NumpyOps` computes the product with
``matmul`` and adds it: the same result, one pass more.
"""

from __future__ import annotations

import ctypes
import glob
import os

import numpy as np

_ROW, _COL = 101, 102                  # CBLAS_ORDER
_NO_TRANS, _TRANS = 111, 112           # CBLAS_TRANSPOSE


def _load():
    """{dtype: cblas_?gemm} from NumPy's scipy-openblas, or {} if NumPy uses another BLAS."""
    try:
        blas = np.__config__.CONFIG["Build Dependencies"]["blas"]
    except (AttributeError, KeyError, TypeError):
        return {}
    if blas.get("name") != "scipy-openblas":
        return {}
    ilp64 = "USE64BITINT" in blas.get("openblas configuration", "")
    root = os.path.dirname(np.__file__)
    paths = sorted(glob.glob(os.path.join(root + ".libs", "*scipy_openblas*"))
                   + glob.glob(os.path.join(root, ".dylibs", "*scipy_openblas*")))
    suffix, integer = ("64_", ctypes.c_int64) if ilp64 else ("", ctypes.c_int32)
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
            functions = {np.dtype(np.float32): getattr(lib, f"scipy_cblas_sgemm{suffix}"),
                         np.dtype(np.float64): getattr(lib, f"scipy_cblas_dgemm{suffix}")}
        except (OSError, AttributeError):
            continue
        for dtype, gemm in functions.items():
            real = ctypes.c_float if dtype == np.float32 else ctypes.c_double
            enum, pointer = ctypes.c_int, ctypes.c_void_p
            gemm.argtypes = [enum, enum, enum, integer, integer, integer, real, pointer,
                             integer, pointer, integer, real, pointer, integer]
            gemm.restype = None
        return functions
    return {}


GEMM = _load()


def _operand(M, order):
    """(op, leading dimension) of a 2-D array M read in ``order``, or None if not strided so."""
    unit = M.itemsize
    inner, outer = (1, 0) if order == _ROW else (0, 1)     # the axis that must be unit-stride
    if M.shape[inner] == 1 or M.strides[inner] == unit:
        ld = M.strides[outer] // unit if M.shape[outer] > 1 else M.shape[inner]
        if ld >= max(1, M.shape[inner]) and M.strides[outer] % unit == 0:
            return _NO_TRANS, ld
    if M.shape[outer] == 1 or M.strides[outer] == unit:
        ld = M.strides[inner] // unit if M.shape[inner] > 1 else M.shape[outer]
        if ld >= max(1, M.shape[outer]) and M.strides[inner] % unit == 0:
            return _TRANS, ld
    return None


def gemm(C, A, B, alpha, beta) -> bool:
    """C ← α·A·B + β·C in place with one BLAS ``gemm`` call; False (C untouched) when
    NumPy's BLAS is not reachable or the arrays are not strided as BLAS reads them.

    A, B, C: 2-D arrays of one dtype (float32 or float64), C not overlapping A or B;
    any mix of row- and column-major operands works without copies.
    """
    if A.shape[1] != B.shape[0] or C.shape != (A.shape[0], B.shape[1]):
        raise ValueError(f"gemm: shapes {A.shape} @ {B.shape} do not give {C.shape}")
    function = GEMM.get(C.dtype)
    if function is None or not A.dtype == B.dtype == C.dtype or not C.size:
        return False
    order = _ROW if C.shape[0] == 1 or C.strides[1] == C.itemsize else _COL
    c, a, b = _operand(C, order), _operand(A, order), _operand(B, order)
    if c is None or c[0] != _NO_TRANS or a is None or b is None:
        return False
    m, n = C.shape
    function(order, a[0], b[0], m, n, A.shape[1], alpha, A.ctypes.data, a[1],
             B.ctypes.data, b[1], beta, C.ctypes.data, c[1])
    return True
