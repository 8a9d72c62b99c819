"""Backend operations: the primitives Algorithm 6.1, the losses and the optimizers run on.

One ops object per backend (the idea of Thinc's ``backends/ops.py``): `Sequential`'s
forward and backward pass, the losses and the optimizers are written once, on the
operations of `Ops`; a backend may implement an operation faster, never differently.

* `Ops` (``generic``): the reference, functional, on any array-API namespace;
* `BufferedOps` (``buffered``): NumPy and CuPy, writing into buffers and in place;
* `NumpyOps` (``numpy_ops``): plus NumPy's BLAS for gemm with β and CPU layouts;
* `CupyOps` (``cupy_ops``): plus cuBLAS gemm and fused elementwise kernels.

`Workspace` holds the buffers a training step or a forward pass writes into.
"""

from __future__ import annotations

import array_api_compat

from .buffered import BufferedOps
from .generic import Ops

__all__ = ["BufferedOps", "Ops", "Workspace", "for_backend"]


def for_backend(backend) -> Ops:
    """The ops object of a `backprop.device.Backend`: NumPy and CuPy get their buffered
    implementations, every other namespace the array-API reference."""
    if array_api_compat.is_numpy_namespace(backend.xp):
        from .numpy_ops import NumpyOps

        return NumpyOps(backend)
    if array_api_compat.is_cupy_namespace(backend.xp):
        from .cupy_ops import CupyOps

        return CupyOps(backend)
    return Ops(backend)


class Workspace:
    """Buffers reused across calls, one per name and shape, allocated by ``ops`` on first
    use (None on a functional backend, where every operation returns a new array).

    An epoch has at most two batch sizes (n_b and the remainder), so keying by shape
    keeps both sets; `predict`'s row blocks likewise.
    """

    def __init__(self, ops):
        self.ops = ops
        self._buffers = {}

    def get(self, name, shape, dtype):
        """The buffer ``name`` of ``shape`` and ``dtype``."""
        key = (name, shape)
        if key not in self._buffers:
            self._buffers[key] = self.ops.buffer(shape, dtype)
        return self._buffers[key]

    def like(self, name, x):
        """The buffer ``name`` shaped and laid out like ``x`` (e.g. dW like W)."""
        key = (name, tuple(x.shape))
        if key not in self._buffers:
            self._buffers[key] = self.ops.buffer_like(x)
        return self._buffers[key]
