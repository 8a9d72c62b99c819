"""Backend operations for NumPy on the CPU: `BufferedOps` with what is faster on a CPU.

* W is kept column-major (`own`): Q Wᵀ then multiplies two row-major operands, which
  OpenBLAS does faster than with a transposed one.
* gemm with β ≠ 0 (the SGD update inside the dW product, 6.23a) is one BLAS call
  through NumPy's own OpenBLAS (`blas.gemm`) for large C; below ``IN_PRODUCT`` entries
  the ctypes call costs more than the pass it saves (measured: break-even between 50k
  and 65k entries, 784×200 saves 18 %), so the product is added with ``matmul``.
* Sums over rows or columns are BLAS products with a vector of ones, several times
  faster than ``np.sum`` along an axis of a few hundred entries.
* A row maximum is read at the row's argmax (one ``take``), faster than a maximum
  along rows of a few columns; softmax is computed in place.
* `Sequential.predict` works through the rows in blocks of ``block_rows``, so the
  hidden activations of a block stay in cache.
"""

from __future__ import annotations

import numpy

from . import blas
from .buffered import BufferedOps

IN_PRODUCT = 1 << 16


class NumpyOps(BufferedOps):
    """`BufferedOps` on NumPy with BLAS calls and cache-friendly layouts."""

    block_rows = 1024

    def __init__(self, backend):
        super().__init__(backend, numpy)
        self._vectors = {}

    def _ones(self, n, dtype):
        """A cached vector of n ones (row and column sums as BLAS products)."""
        key = ("ones", n, dtype)
        if key not in self._vectors:
            self._vectors[key] = numpy.ones(n, dtype)
        return self._vectors[key]

    def _offsets(self, n, M):
        """The flat offsets i·M of the rows of an (n, M) array."""
        key = ("offsets", n, M)
        if key not in self._vectors:
            self._vectors[key] = numpy.arange(0, n * M, M)
        return self._vectors[key]

    def own(self, param):
        return numpy.array(param, order="F")

    def _accumulate(self, C, A, B, alpha, beta):
        if C.size >= IN_PRODUCT and blas.gemm(C, A, B, alpha, beta):
            return C
        return super()._accumulate(C, A, B, alpha, beta)

    def sum_rows(self, dZ, *, beta=0.0, out=None):
        ones = self._ones(dZ.shape[0], dZ.dtype)
        if not beta:
            return numpy.matmul(ones, dZ, out=out)
        s = ones @ dZ
        if beta != 1.0:
            out *= beta
        out += s
        return out

    def _row_sums(self, A):
        return A @ self._ones(A.shape[1], A.dtype)

    def _row_max(self, Z, argmax):
        return Z.take(argmax + self._offsets(*Z.shape))[:, None]

    def gather_rows(self, X, index, out=None):
        # mode="clip" lets take write into ``out`` directly (the indices are valid)
        return X.take(index, axis=0, out=out, mode="clip")

    def softmax(self, Z, out=None):
        E = numpy.subtract(Z, self._row_max(Z, Z.argmax(axis=1)), out=out)
        numpy.exp(E, out=E)
        E /= self._row_sums(E)[:, None]
        return E
