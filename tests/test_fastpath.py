"""The NumPy fast path of `fit` against the array-API reference step.

Both paths compute the same update in a different order of floating-point operations
(γ folded into dZ⁽ᴸ⁾, (1 − γλ)W + (−γ dW) instead of W − γ(dW + λW), a BLAS dot for
‖W‖²), so they agree to rounding: rtol 1e-10 in float64, 2e-4 in float32, after
several epochs of mini-batch updates.
"""

import tracemalloc

import array_api_strict
import numpy as np
import pytest

import backprop as bp
from backprop.device import fastpath
from helpers import host


def _train(monkeypatch, reference, hidden, loss, optimizer, dtype, X, y, **kw):
    """Train a fresh net; with ``reference`` the fast path is switched off."""
    with monkeypatch.context() as m:
        if reference:
            m.setattr(fastpath, "training_step", fastpath.ReferenceStep)
        out = "identity" if loss == "mse" else ("softmax" if loss == "cross_entropy" else "sigmoid")
        net = bp.Sequential([bp.Dense(X.shape[1], 7, hidden), bp.Dense(7, 5, hidden),
                             bp.Dense(5, 3, out)], dtype=dtype, seed=3)
        history = bp.fit(net, loss, optimizer, X, y, **kw)
        return net, history


def _targets(loss, rng, n):
    if loss == "cross_entropy":
        return rng.integers(0, 3, n)
    if loss == "sigmoid_cross_entropy":
        return rng.uniform(size=(n, 3))
    return rng.normal(size=(n, 3))


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-10), ("float32", 2e-4)])
@pytest.mark.parametrize("hidden, loss, sgd, batch", [
    ("relu", "cross_entropy", {}, 16),
    ("relu", "cross_entropy", {"momentum": 0.9, "weight_decay": 0.01}, 16),
    ("relu", "cross_entropy", {"weight_decay": 0.05}, None),
    ("relu", "cross_entropy", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01}, 8),
    ("relu", "cross_entropy", {"lr": "schedule", "momentum": 0.5}, 8),
    ("tanh", "mse", {"momentum": 0.5}, 10),
    ("sigmoid", "sigmoid_cross_entropy", {"weight_decay": 0.01}, 7),
    ("arctan", "mse", {"momentum": 0.9, "weight_decay": 0.02}, 1),
])
@pytest.mark.parametrize("in_product", [False, True])
def test_fast_path_matches_reference(monkeypatch, rng, dtype, rtol, hidden, loss, sgd, batch,
                                     in_product):
    """``in_product``: plain SGD updates every W inside its dW product (`blas.accumulate`),
    as it does for large layers; otherwise only layers of ≥ `_IN_PRODUCT` entries do."""
    if in_product:
        monkeypatch.setattr(fastpath, "_IN_PRODUCT", 0)
    X, y = rng.normal(size=(45, 6)), _targets(loss, rng, 45)
    runs = []
    for reference in (True, False):
        kwargs = dict(sgd, lr=bp.StepDecay(0.2, every=5, factor=0.5)) \
            if sgd.get("lr") == "schedule" else dict(sgd, lr=0.1)
        opt = bp.SGD(**kwargs)
        net, h = _train(monkeypatch, reference, hidden, loss, opt, dtype, X, y,
                        epochs=3, batch_size=batch, validation_data=(X[:9], y[:9]),
                        eval_every=4)
        # a second call continues from the optimizer's state (velocity, step count t)
        h2 = bp.fit(net, loss, opt, X, y, epochs=1, batch_size=batch, seed=1)
        runs.append((host(net.get_flat()), h, h2))
        assert opt.t == h.iterations + h2.iterations
    (theta_ref, h_ref, h2_ref), (theta_fast, h_fast, h2_fast) = runs
    assert theta_fast.dtype == np.dtype(dtype)
    np.testing.assert_allclose(theta_fast, theta_ref, rtol=rtol, atol=rtol)
    for a, b in ((h_fast, h_ref), (h2_fast, h2_ref)):
        np.testing.assert_allclose(a.cost, b.cost, rtol=rtol, atol=rtol)
        np.testing.assert_allclose(a.val_cost, b.val_cost, rtol=rtol, atol=rtol)
        assert a.val_iteration == b.val_iteration
        np.testing.assert_array_equal(a.error, b.error)     # misclassification rates


def test_fast_path_is_chosen_only_for_numpy_and_plain_sgd():
    loss = bp.SoftmaxCrossEntropy()
    numpy_net = bp.Sequential([bp.Dense(3, 2)])
    strict_net = bp.Sequential([bp.Dense(3, 2)], device=array_api_strict)
    assert type(fastpath.training_step(numpy_net, loss, bp.SGD(0.1), 0.0)) is fastpath.NumpyStep
    assert type(fastpath.training_step(strict_net, loss, bp.SGD(0.1), 0.0)) \
        is fastpath.ReferenceStep

    class Custom(bp.SGD):
        pass

    extended = bp.SGD(0.1)
    extended.lookahead = 2                   # a field the fast path does not implement
    for opt in (Custom(0.1), extended, bp.Adam(0.01)):
        assert type(fastpath.training_step(numpy_net, loss, opt, 0.0)) is fastpath.ReferenceStep


def test_fit_does_not_change_arrays_taken_before(rng):
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 2, 20)
    net = bp.Sequential([bp.Dense(3, 4, "relu"), bp.Dense(4, 2)])
    W, b = net.layers[0].W, net.layers[0].b
    W0, b0 = W.copy(), b.copy()
    bp.fit(net, "cross_entropy", bp.SGD(0.5), X, y, epochs=2, batch_size=5)
    np.testing.assert_array_equal(W, W0)
    np.testing.assert_array_equal(b, b0)
    assert not np.array_equal(net.layers[0].W, W0)


def test_lr_changed_between_fits_is_used(monkeypatch, rng):
    """The fast step reads γ at every step, as the reference optimizer does."""
    X, y = rng.normal(size=(12, 6)), rng.integers(0, 3, 12)
    thetas = []
    for reference in (True, False):
        opt = bp.SGD(0.5, momentum=0.5)
        net, _ = _train(monkeypatch, reference, "relu", "cross_entropy", opt, "float64",
                        X, y, epochs=1, batch_size=4)
        opt.lr = 0.05
        with monkeypatch.context() as m:
            if reference:
                m.setattr(fastpath, "training_step", fastpath.ReferenceStep)
            bp.fit(net, "cross_entropy", opt, X, y, epochs=1, batch_size=4)
        thetas.append(host(net.get_flat()))
    np.testing.assert_allclose(thetas[1], thetas[0], rtol=1e-10)


def _traced_steps(rng, n_steps, momentum):
    """Memory traced by tracemalloc around ``n_steps`` fast steps on MNIST-sized layers."""
    net = bp.Sequential([bp.Dense(784, 200, "relu"), bp.Dense(200, 10, "softmax")])
    loss = bp.SoftmaxCrossEntropy()
    X = net.inputs(rng.random((400, 784)))
    T = net.targets(rng.integers(0, 10, 400), loss, 400)
    step = fastpath.training_step(net, loss, bp.SGD(0.1, momentum=momentum, weight_decay=1e-4),
                                  1e-4)
    order = rng.permutation(400)
    for _, Xb, Tb, _ in step.batches(X, T, order, 100):      # warm-up: buffers and velocity
        step(Xb, Tb)
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        kept = []
        for i in range(n_steps):
            for _, Xb, Tb, _ in step.batches(X, T, order, 100):
                kept.append(step(Xb, Tb)[0])          # the cost J is kept, as fit does
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return current - start, peak - start, net.layers[0].W.nbytes


@pytest.mark.parametrize("momentum", [0.0, 0.9])     # 0: W⁽¹⁾ updated inside its product
def test_fast_step_allocates_no_large_temporaries_and_does_not_grow(rng, momentum):
    grown_10, peak, w_bytes = _traced_steps(rng, 10, momentum)
    grown_40, _, _ = _traced_steps(rng, 40, momentum)
    # a step allocates only small arrays (the (n_b, 10) output, masks): far below one W⁽¹⁾
    assert peak < w_bytes / 4
    # memory kept grows only by the per-step cost scalars that are kept, not by buffers
    assert grown_40 - grown_10 < 30 * 4 * 300


@pytest.mark.parametrize("hidden, out", [("relu", "softmax"), ("tanh", None), ("sigmoid", "relu")])
@pytest.mark.parametrize("n", [0, 5, fastpath._BLOCK + 7])
def test_predict_in_blocks_matches_the_cached_forward_pass(rng, hidden, out, n):
    net = bp.Sequential([bp.Dense(6, 9, hidden), bp.Dense(9, 4, out)], dtype="float64")
    net.set_flat(rng.normal(0.0, 0.5, net.n_params))
    X = rng.normal(size=(n, 6))
    P = net.predict(X)
    expected = net.forward(net.inputs(X))[0][-1]
    assert P.shape == (n, 4) and P.dtype == np.float64
    np.testing.assert_allclose(P, expected, rtol=1e-12, atol=1e-14)
