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
    """Buffers reused across calls, allocated by ``ops`` on first use (None on a
    functional backend, where every operation returns a new array).

    `get` keys a buffer by name and by its shape without the rows, and hands out its
    first rows: batches of any size share one buffer, grown when a larger one comes.
    An epoch has two batch sizes (n_b and the remainder), `predict` its row blocks, and
    in data-parallel training a rank's part of each mini-batch differs from batch to
    batch (`backprop.distributed`). `like` keys by name and full shape (dW like W);
    `adopt` gives it a buffer made elsewhere (dW⁽ˡ⁾ as a view into one flat gradient).
    """

    def __init__(self, ops):
        self.ops = ops
        self._rows = {}
        self._like = {}

    def get(self, name, shape, dtype):
        """The buffer ``name`` of ``shape`` and ``dtype`` (the first ``shape[0]`` rows of
        the buffer kept for ``name`` and ``shape[1:]``)."""
        key = (name, tuple(shape[1:]))
        buffer = self._rows.get(key)
        if buffer is None or buffer.shape[0] < shape[0]:
            buffer = self._rows[key] = self.ops.buffer(shape, dtype)
        if buffer is None or buffer.shape[0] == shape[0]:
            return buffer
        return buffer[:shape[0], ...]

    def like(self, name, x):
        """The buffer ``name`` shaped and laid out like ``x`` (e.g. dW like W)."""
        key = (name, tuple(x.shape))
        if key not in self._like:
            self._like[key] = self.ops.buffer_like(x)
        return self._like[key]

    def adopt(self, name, buffer):
        """Make ``buffer`` what `like` returns for ``name`` and ``buffer``'s shape."""
        self._like[(name, tuple(buffer.shape))] = buffer
