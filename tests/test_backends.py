"""The same training on every array-API backend (issue 6): NumPy, array_api_strict,
PyTorch CPU tensors and JAX, each skipped when not installed (fixture ``any_backend``).

The reference is NumPy: the same seed gives the same θ₀ and the same shuffles on every
backend, so in float64 the trained weights must agree to rounding.
"""

import numpy as np
import pytest

import backprop as bp


def _data(seed=0, n=37):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    return X, rng.integers(0, 3, size=n)


def _net(device, dtype):
    return bp.Sequential([bp.Dense(4, 6, "tanh"), bp.Dense(6, 5, "relu"),
                          bp.Dense(5, 3, "softmax")], device=device, dtype=dtype, seed=7)


def _train(device, dtype, X, y, Xv, yv):
    net = _net(device, dtype)
    history = bp.fit(net, "cross_entropy", bp.SGD(lr=0.2, momentum=0.5, weight_decay=1e-3),
                     X, y, epochs=3, batch_size=8, validation_data=(Xv, yv), eval_every=4)
    return net, history


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_training_matches_reference(any_backend, dtype):
    X, y = _data()
    Xv, yv = _data(seed=1, n=11)
    ref, ref_history = _train("cpu", dtype, X.astype(dtype), y, Xv.astype(dtype), yv)
    # the backend's own arrays as input (host NumPy arrays are accepted too)
    native = [any_backend.asarray(a) for a in (X.astype(dtype), y, Xv.astype(dtype), yv)]
    net, history = _train(any_backend.device, dtype, *native)
    theta = any_backend.to_numpy(net.get_flat())
    rtol = 1e-4 if dtype == "float32" else 1e-10
    np.testing.assert_allclose(theta, ref.get_flat(), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(history.cost, ref_history.cost, rtol=rtol)
    assert history.error == pytest.approx(ref_history.error)
    assert history.val_iteration == ref_history.val_iteration == [4, 8, 12, 15]
    np.testing.assert_allclose(history.val_cost, ref_history.val_cost, rtol=rtol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_arrays_keep_backend_and_dtype(any_backend, dtype):
    X, y = _data()
    net = _net(any_backend.device, dtype)
    bp.fit(net, "cross_entropy", bp.SGD(lr=0.1), X.astype(dtype), y, epochs=1, batch_size=10)
    P = net.predict(X)
    J, grads = net.backprop(X, y, "cross_entropy", weight_decay=0.01)
    arrays = [P] + [a for layer in net.layers for a in (layer.W, layer.b)] + \
        [a for pair in grads for a in pair]
    for a in arrays:
        assert type(a) is type(net.layers[0].W)
        assert a.dtype == net.dtype
    assert J.dtype == net.dtype and J.shape == () and P.shape == (37, 3)   # NumPy: a scalar
    np.testing.assert_allclose(np.sum(any_backend.to_numpy(P), axis=1), 1.0, rtol=1e-5)


def test_gradcheck(any_backend):
    X, y = _data(n=6)
    net = bp.Sequential([bp.Dense(4, 3, "sigmoid"), bp.Dense(3, 3, "softmax")],
                        device=any_backend.device, dtype="float64", seed=2)
    assert bp.gradcheck(net, "cross_entropy", any_backend.asarray(X), y, weight_decay=0.1) < 1e-6


def test_foreign_backend_array_is_refused(any_backend):
    """A NumPy model refuses another library's arrays; the other library's model takes NumPy."""
    if any_backend.name == "numpy":
        pytest.skip("NumPy arrays are host data, accepted by every model")
    X = np.ones((2, 4))
    with pytest.raises(bp.BackpropTypeError, match="but the model uses numpy on cpu"):
        _net("cpu", "float64").predict(any_backend.asarray(X))
    P = _net(any_backend.device, "float64").predict(X)
    assert type(P) is not np.ndarray
