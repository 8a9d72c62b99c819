"""Fixtures of issue 6: ``any_backend`` runs a test on every installed array-API backend.

Backends: NumPy (always), ``array_api_strict`` (the standard and nothing else), PyTorch
CPU tensors and JAX (through array-api-compat), each skipped when not installed, and CuPy
(marked ``gpu``, skipped without CuPy and a GPU). Select one with ``pytest -k numpy`` /
``-k array_api_strict`` / ``-k torch`` / ``-k jax`` / ``-k cupy``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import numpy as np
import pytest


@dataclass(frozen=True)
class AnyBackend:
    """How a test builds a model on a backend and moves arrays to and from it."""

    name: str
    module: object      # the array library's own module (numpy, torch, ...)

    @property
    def device(self):
        """The ``device`` argument of `Sequential` for this backend."""
        return {"numpy": "cpu", "cupy": "cuda"}.get(self.name, self.module)

    def asarray(self, a):
        """A native array of this backend holding the NumPy array ``a`` (same dtype)."""
        if self.name == "numpy":
            return np.asarray(a)
        return self.module.asarray(np.asarray(a))

    @staticmethod
    def to_numpy(x):
        from backprop.device import to_host
        return to_host(x)


def _load(name):
    module = pytest.importorskip(name)
    if name == "cupy":
        try:
            module.cuda.runtime.getDeviceCount()
        except module.cuda.runtime.CUDARuntimeError:
            pytest.skip("no CUDA GPU visible")
    if name == "array_api_strict":
        module.set_array_api_strict_flags(api_version="2024.12")
    if name == "jax":
        module.config.update("jax_enable_x64", True)   # float64 models need it
        module = importlib.import_module("jax.numpy")
    return module


@pytest.fixture(params=["numpy", "array_api_strict", "torch", "jax",
                        pytest.param("cupy", marks=pytest.mark.gpu)])
def any_backend(request):
    return AnyBackend(request.param, _load(request.param))
