"""No value is read back from the device inside an epoch of `fit` (issue 9).

On a GPU, ``float()``, ``bool()``, ``int()``, ``.item()`` or a host copy of a device
value inside the training step stalls the pipeline. These tests prove its absence on
the CPU, with arrays that refuse to be read back while an epoch runs: from the first
training step of `fit` until it returns, reads are allowed only inside
`train._end_of_epoch`, where `fit` reports (learning curves, divergence check, progress
bar, callbacks).

* The array-API path: `array_api_strict` arrays whose conversions to the host raise.
* The buffered path that NumPy and CuPy share (`BufferedOps`): run with a stand-in for
  the ``cupy`` module, NumPy with CuPy's return types (reductions and counts give 0-d
  arrays, as ``cupy.count_nonzero`` does, where NumPy gives a Python int) whose
  conversions to host numbers raise.

The line search is the documented exception: it compares J on the host at every trial
step.
"""

import contextlib

import array_api_strict
import numpy as np
import pytest

import backprop as bp
from backprop import train
from backprop.device import resolve
from backprop.ops import BufferedOps
from backprop.step import Step
from helpers import host


class Reads:
    """Whether host reads are allowed now, and the reads that were refused."""

    allowed = True
    refused = []

    @classmethod
    def check(cls, what):
        if not cls.allowed:
            cls.refused.append(what)
            raise AssertionError(f"host read inside an epoch: {what}")


@contextlib.contextmanager
def reads_refused_inside_epochs(monkeypatch):
    """From the first step of fit until the end of the block, reads are refused except
    inside `train._end_of_epoch`."""
    Reads.allowed, Reads.refused = True, []
    step_call, end_of_epoch = Step.__call__, train._end_of_epoch

    def guarded_step(self, *args, **kwargs):
        Reads.allowed = False
        return step_call(self, *args, **kwargs)

    def reporting(*args, **kwargs):
        Reads.allowed = True
        try:
            return end_of_epoch(*args, **kwargs)
        finally:
            Reads.allowed = False

    monkeypatch.setattr(Step, "__call__", guarded_step)
    monkeypatch.setattr(train, "_end_of_epoch", reporting)
    try:
        yield
    finally:
        Reads.allowed = True


# -- array_api_strict arrays that refuse host reads -------------------------------------
STRICT_READS = ["__bool__", "__float__", "__int__", "__index__", "__complex__", "__array__",
                "__dlpack__", "__iter__", "__buffer__"]


@pytest.fixture
def strict_refusing(monkeypatch):
    Array = type(array_api_strict.asarray(0.0))
    for name in STRICT_READS:
        original = getattr(Array, name)

        def guarded(self, *args, _original=original, _name=name, **kwargs):
            Reads.check(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Array, name, guarded)
    return array_api_strict


# -- NumPy with CuPy's return types -------------------------------------------------------
class DeviceArray(np.ndarray):
    """A NumPy array standing for a device array: converting it to a host number raises
    while reads are refused; ufuncs keep 0-d results as arrays (as CuPy does)."""

    def __array_wrap__(self, array, context=None, return_scalar=False):
        return array.view(DeviceArray)

    def _read(name):
        def method(self, *args, **kwargs):
            Reads.check(name)
            return getattr(np.ndarray, name)(self.view(np.ndarray), *args, **kwargs)
        return method

    __bool__, __float__, __int__, __index__ = (
        _read("__bool__"), _read("__float__"), _read("__int__"), _read("__index__"))
    item, tolist = _read("item"), _read("tolist")
    del _read


def _device(value):
    if isinstance(value, tuple):
        return tuple(_device(v) for v in value)
    if isinstance(value, np.ndarray):
        return value.view(DeviceArray)
    if isinstance(value, (np.generic, int, float)) and not isinstance(value, bool):
        return np.asarray(value).view(DeviceArray)
    return value


class CupyLikeNumpy:
    """The ``numpy`` module with CuPy's return types: every array a function returns is a
    `DeviceArray`, and scalars (sums, dot products, counts) come back as 0-d ones."""

    def __getattr__(self, name):
        value = getattr(np, name)
        if not callable(value) or isinstance(value, type):
            return value

        def call(*args, **kwargs):
            return _device(value(*args, **kwargs))

        return call


OPTIMIZERS = {
    "sgd": lambda: bp.SGD(0.1),
    "sgd-decay": lambda: bp.SGD(0.1, weight_decay=1e-3),
    "momentum": lambda: bp.SGD(0.1, momentum=0.9, weight_decay=1e-3),
    "nesterov": lambda: bp.SGD(0.1, momentum=0.9, nesterov=True),
    "adam": lambda: bp.Adam(0.01, weight_decay=1e-3),
}
LOSSES = {"cross_entropy": "softmax", "sigmoid_cross_entropy": "sigmoid", "mse": None}


def _data(loss, rng):
    X = rng.normal(size=(50, 4))
    if loss == "cross_entropy":
        return X, rng.integers(0, 3, 50)
    if loss == "sigmoid_cross_entropy":
        return X, (rng.uniform(size=(50, 3)) > 0.5).astype(float)
    return X, rng.normal(size=(50, 3))


def _fit(net, loss, optimizer, X, y, stop):
    return bp.fit(net, loss, optimizer, X, y, epochs=3, batch_size=8, sample_weight=None,
                  validation_data=(X[:10], y[:10]), eval_every=3, callbacks=[stop])


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_no_host_read_inside_an_epoch_on_the_array_api_path(monkeypatch, strict_refusing, rng,
                                                             optimizer, loss):
    X, y = _data(loss, rng)
    net = bp.Sequential([bp.Dense(4, 6, "relu"), bp.Dense(6, 3, LOSSES[loss])],
                        device=strict_refusing)
    with reads_refused_inside_epochs(monkeypatch):
        history = _fit(net, loss, OPTIMIZERS[optimizer](), X, y, bp.EarlyStopping(patience=9))
    assert history.iterations == 3 * 7 and not Reads.refused


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("weighted", [False, True])
def test_no_host_read_inside_an_epoch_on_the_buffered_path(monkeypatch, rng, optimizer, loss,
                                                            weighted):
    """`BufferedOps` with CuPy's return types trains as NumPy's own ops do, without reads."""
    X, y = _data(loss, rng)
    s = rng.uniform(0.5, 2.0, 50) if weighted else None
    results = []
    for cupy_like in (True, False):
        net = bp.Sequential([bp.Dense(4, 6, "relu"), bp.Dense(6, 3, LOSSES[loss])],
                            dtype="float64")
        if cupy_like:
            net.ops = BufferedOps(resolve("cpu"), CupyLikeNumpy())
        with reads_refused_inside_epochs(monkeypatch):
            history = bp.fit(net, loss, OPTIMIZERS[optimizer](), X, y, epochs=3, batch_size=8,
                             sample_weight=s, validation_data=(X[:10], y[:10]), eval_every=3,
                             callbacks=[bp.EarlyStopping(patience=9)])
        assert not Reads.refused
        results.append((host(net.get_flat()), history.cost))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-10)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-10)


def test_the_guards_catch_a_read(monkeypatch, strict_refusing, rng):
    """The harness itself: a float() of the cost inside the step is caught on both paths."""
    X, y = _data("cross_entropy", rng)
    original = Step.__call__

    def reading_step(self, *args, **kwargs):
        J, error = original(self, *args, **kwargs)
        float(J)
        return J, error

    for device, ops in ((strict_refusing, None), ("cpu", CupyLikeNumpy())):
        net = bp.Sequential([bp.Dense(4, 3)], device=device)
        if ops is not None:
            net.ops = BufferedOps(resolve("cpu"), ops)
        monkeypatch.setattr(Step, "__call__", reading_step)
        with reads_refused_inside_epochs(monkeypatch), pytest.raises(AssertionError,
                                                                     match="host read"):
            bp.fit(net, "cross_entropy", bp.SGD(0.1), X, y, epochs=2, batch_size=8)
        monkeypatch.setattr(Step, "__call__", original)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("weighted", [False, True])
def test_no_host_read_inside_an_epoch_in_data_parallel_training(monkeypatch, rng, optimizer,
                                                                  weighted):
    """`fit(comm=)` (one rank, ``MPI.COMM_SELF``) on the buffered path with CuPy's return
    types: the rows' weights, the sum over the ranks (its MPI call aside: on GPUs it is
    NCCL's, queued on the stream) and the update read nothing back."""
    MPI = pytest.importorskip("mpi4py.MPI")
    X, y = _data("cross_entropy", rng)
    s = rng.uniform(0.5, 2.0, 50) if weighted else None
    results = []
    for comm in (MPI.COMM_SELF, None):
        net = bp.Sequential([bp.Dense(4, 6, "relu"), bp.Dense(6, 3)], dtype="float64")
        net.ops = BufferedOps(resolve("cpu"), CupyLikeNumpy())
        with reads_refused_inside_epochs(monkeypatch):
            history = bp.fit(net, "cross_entropy", OPTIMIZERS[optimizer](), X, y, epochs=3,
                             batch_size=8, sample_weight=s, validation_data=(X[:10], y[:10]),
                             eval_every=3, callbacks=[bp.EarlyStopping(patience=9)], comm=comm)
        assert not Reads.refused
        results.append((host(net.get_flat()), history.cost, history.val_cost))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10)
