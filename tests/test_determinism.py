"""Determinism and state (issue 6): same seed → same weights; fit leaves its inputs alone."""

import numpy as np
import pytest

import backprop as bp


def _data(n=50):
    rng = np.random.default_rng(5)
    return rng.normal(size=(n, 4)).astype(np.float32), rng.integers(0, 3, size=n)


def _net(seed, device="cpu", dtype="float32"):
    return bp.Sequential([bp.Dense(4, 8, "relu"), bp.Dense(8, 6, "sigmoid"),
                          bp.Dense(6, 3, "softmax")], device=device, dtype=dtype, seed=seed)


def _train(seed, data_seed=0):
    X, y = _data()
    net = _net(seed)
    bp.fit(net, "cross_entropy", bp.SGD(lr=0.3, momentum=0.9, weight_decay=1e-3), X, y,
           epochs=4, batch_size=7, validation_data=(X[:10], y[:10]), eval_every=3, seed=data_seed)
    return net.get_flat()


def test_same_seed_gives_bit_identical_training():
    a, b = _train(seed=11), _train(seed=11)
    assert a.dtype == np.float32
    assert a.tobytes() == b.tobytes()


def test_other_seeds_give_other_weights():
    """The check above can fail: changing either seed changes the result."""
    reference = _train(seed=11)
    assert not np.array_equal(_train(seed=12), reference)        # initial weights
    assert not np.array_equal(_train(seed=11, data_seed=1), reference)   # shuffles


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_initial_weights_on_every_backend(any_backend, dtype):
    reference = _net(3, dtype=dtype).get_flat()
    theta = any_backend.to_numpy(_net(3, device=any_backend.device, dtype=dtype).get_flat())
    assert theta.dtype == reference.dtype
    assert theta.tobytes() == reference.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fit_does_not_mutate_inputs(dtype):
    """Neither when X already has the model's dtype (no conversion copy) nor otherwise."""
    X, y = _data()
    X = X.astype(dtype)
    Xv, yv = X[:9].copy(), y[:9].copy()
    saved = [a.copy() for a in (X, y, Xv, yv)]
    net = _net(0)
    bp.fit(net, "cross_entropy", bp.SGD(lr=0.5), X, y, epochs=2, batch_size=8,
           validation_data=(Xv, yv))
    net.backprop(X, y, "cross_entropy", weight_decay=0.1)
    net.predict(X)
    bp.gradcheck(net, "cross_entropy", X, y, max_params=5)
    for a, b in zip((X, y, Xv, yv), saved):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_fit_does_not_mutate_backend_inputs(any_backend):
    X, y = _data()
    Xn, yn = any_backend.asarray(X), any_backend.asarray(y)
    net = _net(0, device=any_backend.device)
    bp.fit(net, "cross_entropy", bp.SGD(lr=0.5), Xn, yn, epochs=2, batch_size=8)
    np.testing.assert_array_equal(any_backend.to_numpy(Xn), X)
    np.testing.assert_array_equal(any_backend.to_numpy(yn), y)


def test_get_flat_is_a_copy():
    """Training after get_flat does not change the θ returned before."""
    X, y = _data()
    net = _net(0)
    theta = net.get_flat()
    saved = theta.copy()
    bp.fit(net, "cross_entropy", bp.SGD(lr=0.5), X, y, epochs=1)
    np.testing.assert_array_equal(theta, saved)
    assert not np.array_equal(net.get_flat(), saved)
