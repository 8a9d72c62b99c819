"""Backends every core test runs on: NumPy, array_api_strict (two devices) and CuPy (GPU)."""

import importlib.util

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


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
