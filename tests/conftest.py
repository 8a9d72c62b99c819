"""Backend fixtures.

``device``: the core suite's backends — NumPy, array_api_strict on its default device and
on ``Device("device1")`` (which catches arrays created on the wrong device), and CuPy
(marked ``gpu``, skipped without CuPy and a GPU).

``ARRAY_API_READY``: whether SciPy's array-API mode is on (scikit-learn's array-API checks).

``any_backend``: issue 6's breadth — NumPy, array_api_strict, PyTorch CPU tensors and JAX
(through array-api-compat, each skipped when not installed) and CuPy (``gpu``). Select one
with ``pytest -k numpy`` / ``-k array_api_strict`` / ``-k torch`` / ``-k jax`` / ``-k cupy``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass

# scikit-learn's array-API dispatch (tests/test_sklearn*.py) needs SciPy's array-API mode,
# which SciPy reads once, when it is first imported: switch it on before anything imports
# SciPy. If SciPy came first (e.g. a plugin), those tests skip (see ARRAY_API_READY).
if "scipy" not in sys.modules:
    os.environ.setdefault("SCIPY_ARRAY_API", "1")
ARRAY_API_READY = os.environ.get("SCIPY_ARRAY_API") == "1"

import numpy as np
import pytest

import array_api_strict

array_api_strict.set_array_api_strict_flags(api_version="2024.12")


def _gpu_available() -> bool:
    if importlib.util.find_spec("cupy") is None:
        return False
    import cupy

    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except cupy.cuda.runtime.CUDARuntimeError:
        return False


BACKENDS = [
    pytest.param("cpu", id="numpy"),
    pytest.param(array_api_strict, id="strict"),
    pytest.param((array_api_strict, array_api_strict.Device("device1")), id="strict-device1"),
    pytest.param("cuda", id="cupy", marks=[
        pytest.mark.gpu,
        pytest.mark.skipif(not _gpu_available(), reason="needs CuPy and a CUDA GPU")]),
]


@pytest.fixture(params=BACKENDS)
def device(request):
    """A value for Sequential(device=...) naming one backend."""
    return request.param


@pytest.fixture(params=["generic", "numpy"])
def np_ops(request):
    """Backend operations for NumPy arrays: the array-API reference and NumPy's own."""
    from backprop.device import resolve
    from backprop.ops import Ops, for_backend

    backend = resolve("cpu")
    return Ops(backend) if request.param == "generic" else for_backend(backend)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


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


def load_backend(name):
    module = pytest.importorskip(name)
    if name == "cupy" and not _gpu_available():
        pytest.skip("no CUDA GPU visible")
    if name == "jax":
        module.config.update("jax_enable_x64", True)   # float64 models need it
        module = importlib.import_module("jax.numpy")
    return module


@pytest.fixture(params=["numpy", "array_api_strict", "torch", "jax",
                        pytest.param("cupy", marks=pytest.mark.gpu)])
def any_backend(request):
    return AnyBackend(request.param, load_backend(request.param))
