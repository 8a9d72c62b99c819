"""The device module: backend resolution, clear errors, host/device moves."""

import importlib.util

import numpy as np
import pytest

import array_api_strict
import backprop as bp
from backprop.device import Random, resolve, to_host


def test_cpu_is_numpy():
    backend = resolve("cpu")
    assert backend.name == "numpy" and backend.device == "cpu"


def test_namespace_and_pair():
    assert resolve(array_api_strict).xp is array_api_strict
    device1 = array_api_strict.Device("device1")
    assert resolve((array_api_strict, device1)).device == device1
    assert resolve(np).name == "numpy"


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed")
@pytest.mark.parametrize("name", ["cuda", "cuda:1"])
def test_cuda_without_cupy_is_a_clear_error_not_a_fallback(name):
    with pytest.raises(bp.BackpropError, match="needs CuPy, which is not installed"):
        bp.Sequential([bp.Dense(2, 1)], device=name)


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "cpu:0", 3])
def test_unknown_device_is_named(bad):
    with pytest.raises(bp.BackpropError, match="device must be 'cpu', 'cuda', 'cuda:N'"):
        resolve(bad)


def test_unknown_dtype_is_named():
    with pytest.raises(bp.BackpropError, match="dtype must be one of float32, float64; got 'float16'"):
        bp.Sequential([bp.Dense(2, 1)], dtype="float16")


def test_array_from_another_device_is_refused():
    net = bp.Sequential([bp.Dense(2, 1)], device=array_api_strict)
    X = array_api_strict.ones((3, 2), device=array_api_strict.Device("device1"))
    with pytest.raises(bp.BackpropError, match="X is on device .*device1.* but the model is on"):
        net.predict(X)


def test_array_from_another_namespace_is_refused():
    net = bp.Sequential([bp.Dense(2, 1)])
    with pytest.raises(bp.BackpropTypeError, match="X is a array_api_strict.* but the model uses numpy"):
        net.predict(array_api_strict.ones((3, 2)))


def test_host_data_moves_to_the_model_device():
    device1 = array_api_strict.Device("device1")
    net = bp.Sequential([bp.Dense(2, 1)], device=(array_api_strict, device1))
    Y = net.predict([[0.5, 1.0], [1.0, 2.0]])
    assert Y.device == device1
    assert to_host(Y).shape == (2, 1)


def test_random_is_reproducible():
    a, b = Random(3), Random(3)
    np.testing.assert_array_equal(a.uniform(1.0, (4,)), b.uniform(1.0, (4,)))
    np.testing.assert_array_equal(a.permutation(10), b.permutation(10))
    assert sorted(Random(0).permutation(10)) == list(range(10))
