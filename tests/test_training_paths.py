"""Whole training runs: NumPy's buffered operations against the array-API reference.

`fit` runs one Algorithm 6.1 on the operations of the model's backend. Here the same
runs are made with NumPy's operations (`NumpyOps`: buffers, in-place updates, BLAS
gemm with β, the SGD update fused into the backward pass) and with the reference
operations (`Ops`) on the same NumPy arrays. Both compute the same updates in a
different order of floating-point operations, so they agree to rounding: rtol 1e-10 in
float64, 2e-4 in float32, after several epochs. The rule for in-place updates
(`backprop.step`) and the memory behaviour of the buffered step are tested too.
"""

import tracemalloc

import array_api_strict
import numpy as np
import pytest

import backprop as bp
from backprop.ops import Ops, numpy_ops
from backprop.ops.numpy_ops import NumpyOps
from backprop.step import Step
from helpers import host


def _net(X, hidden, out, dtype, reference):
    net = bp.Sequential([bp.Dense(X.shape[1], 7, hidden), bp.Dense(7, 5, hidden),
                         bp.Dense(5, 3, out)], dtype=dtype, seed=3)
    if reference:
        net.ops = Ops(net.backend)
    return net


def _targets(loss, rng, n):
    if loss == "cross_entropy":
        return rng.integers(0, 3, n)
    if loss == "sigmoid_cross_entropy":
        return rng.uniform(size=(n, 3))
    return rng.normal(size=(n, 3))


OUTPUT = {"cross_entropy": "softmax", "mse": "identity", "sigmoid_cross_entropy": "sigmoid"}
OPTIMIZERS = {
    "sgd": lambda: bp.SGD(0.1),
    "sgd-decay": lambda: bp.SGD(0.1, weight_decay=0.05),
    "sgd-per-sample": lambda: bp.SGD(0.1, weight_decay=bp.PerSample(0.3)),
    "momentum": lambda: bp.SGD(0.1, momentum=0.9, weight_decay=0.01),
    "nesterov": lambda: bp.SGD(0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "schedule": lambda: bp.SGD(bp.StepDecay(0.2, every=5, factor=0.5), momentum=0.5),
    "adam": lambda: bp.Adam(0.01),
    "adam-decay": lambda: bp.Adam(0.01, weight_decay=0.01),
}


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-10), ("float32", 2e-4)])
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("hidden, loss, batch", [
    ("relu", "cross_entropy", 16),
    ("relu", "cross_entropy", None),
    ("tanh", "mse", 10),
    ("sigmoid", "sigmoid_cross_entropy", 7),
    ("arctan", "mse", 1),
])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("in_product", [False, True])
def test_numpy_operations_train_as_the_reference(monkeypatch, rng, dtype, rtol, optimizer,
                                                  hidden, loss, batch, weighted, in_product):
    """``in_product``: every W takes its fused SGD update inside the dW product through
    BLAS (`blas.gemm`), as large layers do; otherwise only layers of ≥ IN_PRODUCT entries."""
    if in_product:
        monkeypatch.setattr(numpy_ops, "IN_PRODUCT", 0)
    X, y = rng.normal(size=(45, 6)), _targets(loss, rng, 45)
    s = rng.uniform(0.2, 3.0, size=45) if weighted else None
    runs = []
    for reference in (True, False):
        net = _net(X, hidden, OUTPUT[loss], dtype, reference)
        opt = OPTIMIZERS[optimizer]()
        h = bp.fit(net, loss, opt, X, y, epochs=3, batch_size=batch, sample_weight=s,
                   validation_data=(X[:9], y[:9]), eval_every=4)
        # a second call continues from the optimizer's state (velocity, moments, step t)
        h2 = bp.fit(net, loss, opt, X, y, epochs=1, batch_size=batch, seed=1, sample_weight=s)
        assert opt.t == h.iterations + h2.iterations
        runs.append((host(net.get_flat()), h, h2))
    (theta_ref, h_ref, h2_ref), (theta, h, h2) = runs
    assert theta.dtype == np.dtype(dtype)
    np.testing.assert_allclose(theta, theta_ref, rtol=rtol, atol=rtol)
    for a, b in ((h, h_ref), (h2, h2_ref)):
        np.testing.assert_allclose(a.cost, b.cost, rtol=rtol, atol=rtol)
        np.testing.assert_allclose(a.val_cost, b.val_cost, rtol=rtol, atol=rtol)
        assert a.val_iteration == b.val_iteration
        np.testing.assert_allclose(a.error, b.error, atol=1e-6)     # rates of a few samples


@pytest.mark.parametrize("device", ["cpu", array_api_strict])
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_fused_sgd_update_equals_gradient_then_update(monkeypatch, rng, device, weight_decay):
    """Plain SGD's update taken inside the backward pass (dZ⁽ᴸ⁾ scaled by −γ, W updated by
    a gemm with β = 1 − γλ) equals Algorithm 6.1's gradient followed by θ ← θ − γ dθ."""
    X, y = rng.normal(size=(30, 4)), rng.integers(0, 3, 30)
    thetas = []
    for fused in (True, False):
        with monkeypatch.context() as m:
            if not fused:
                m.setattr(bp.SGD, "fusable_rate", lambda self: None)
            net = bp.Sequential([bp.Dense(4, 6, "relu"), bp.Dense(6, 3)], device=device,
                                dtype="float64", seed=1)
            bp.fit(net, "cross_entropy", bp.SGD(0.3, weight_decay=weight_decay), X, y,
                   epochs=3, batch_size=8)
            thetas.append(host(net.get_flat()))
    np.testing.assert_allclose(thetas[0], thetas[1], rtol=1e-12, atol=1e-14)


def test_each_backend_gets_its_operations():
    assert type(bp.Sequential([bp.Dense(3, 2)]).ops) is NumpyOps
    assert type(bp.Sequential([bp.Dense(3, 2)], device=array_api_strict).ops) is Ops


@pytest.mark.parametrize("device", ["cpu", array_api_strict])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_fit_does_not_change_arrays_taken_before(rng, device, optimizer):
    """The rule of `backprop.step`: fit trains copies it owns."""
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 2, 20)
    net = bp.Sequential([bp.Dense(3, 4, "relu"), bp.Dense(4, 2)], device=device)
    opt = OPTIMIZERS[optimizer]()
    bp.fit(net, "cross_entropy", opt, X, y, epochs=1, batch_size=5)
    taken = net.parameters()
    before = [host(p).copy() for p in taken]
    state = [host(a).copy() for name in opt.buffers for a in (getattr(opt, name) or [])]
    held_state = [a for name in opt.buffers for a in (getattr(opt, name) or [])]
    bp.fit(net, "cross_entropy", opt, X, y, epochs=2, batch_size=5)
    for p, p0 in zip(taken, before):
        np.testing.assert_array_equal(host(p), p0)
    for a, a0 in zip(held_state, state):
        np.testing.assert_array_equal(host(a), a0)
    assert not np.array_equal(host(net.layers[0].W), before[0])


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_optimizer_step_outside_fit_writes_nothing_the_caller_holds(rng, optimizer):
    X, y = rng.normal(size=(10, 3)), rng.integers(0, 2, 10)
    net = bp.Sequential([bp.Dense(3, 4, "relu"), bp.Dense(4, 2)])
    opt = OPTIMIZERS[optimizer]()
    for _ in range(2):                  # the second step has optimizer state
        params = net.parameters()
        J, grads = net.backprop(X, y, "cross_entropy")
        saved = [host(p).copy() for p in params] + [host(g).copy() for pair in grads for g in pair]
        opt.step(net, grads)
        held = params + [g for pair in grads for g in pair]
        for a, a0 in zip(held, saved):
            np.testing.assert_array_equal(a, a0)
    assert not np.array_equal(net.layers[0].W, params[0])


def test_lr_changed_between_fits_is_used(rng):
    X, y = rng.normal(size=(12, 6)), rng.integers(0, 3, 12)
    thetas = []
    for reference in (True, False):
        net = _net(X, "relu", "softmax", "float64", reference)
        opt = bp.SGD(0.5, momentum=0.5)
        bp.fit(net, "cross_entropy", opt, X, y, epochs=1, batch_size=4)
        opt.lr = 0.05
        bp.fit(net, "cross_entropy", opt, X, y, epochs=1, batch_size=4)
        thetas.append(host(net.get_flat()))
    np.testing.assert_allclose(thetas[1], thetas[0], rtol=1e-10)


def _traced_steps(rng, n_steps, optimizer):
    """Memory traced by tracemalloc around ``n_steps`` epochs of buffered steps on
    MNIST-sized layers."""
    net = bp.Sequential([bp.Dense(784, 200, "relu"), bp.Dense(200, 10, "softmax")])
    loss = bp.SoftmaxCrossEntropy()
    X = net.inputs(rng.random((400, 784)))
    T = net.targets(rng.integers(0, 10, 400), loss, 400)
    step = Step(net, loss, optimizer)
    order = rng.permutation(400)
    for _, Xb, Tb, s, w in step.batches(X, T, order, 100):    # warm-up: buffers and state
        step(Xb, Tb, s, w)
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        kept = []
        for _ in range(n_steps):
            for _, Xb, Tb, s, w in step.batches(X, T, order, 100):
                kept.append(step(Xb, Tb, s, w)[0])      # the cost J is kept, as fit does
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return current - start, peak - start, net.layers[0].W.nbytes


@pytest.mark.parametrize("optimizer", [
    lambda: bp.SGD(0.1, weight_decay=1e-4),                 # W⁽¹⁾ updated inside its product
    lambda: bp.SGD(0.1, momentum=0.9, weight_decay=1e-4),
    lambda: bp.Adam(1e-3)])
def test_buffered_step_allocates_no_large_temporaries_and_does_not_grow(rng, optimizer):
    grown_10, peak, w_bytes = _traced_steps(rng, 10, optimizer())
    grown_40, _, _ = _traced_steps(rng, 40, optimizer())
    # a step allocates small arrays (the (n_b, 10) output, masks) and at most one
    # parameter-sized scratch array (weight decay, Nesterov, Adam)
    assert peak < 1.25 * w_bytes
    # memory kept grows only by the per-step cost scalars that are kept, not by buffers
    assert grown_40 - grown_10 < 30 * 4 * 300


@pytest.mark.parametrize("hidden, out", [("relu", "softmax"), ("tanh", None), ("sigmoid", "relu"),
                                         ("arctan", "arctan")])
@pytest.mark.parametrize("n", [0, 5, NumpyOps.block_rows + 7])
def test_predict_in_blocks_matches_the_cached_forward_pass(rng, hidden, out, n):
    net = bp.Sequential([bp.Dense(6, 9, hidden), bp.Dense(9, 4, out)], dtype="float64")
    net.set_flat(rng.normal(0.0, 0.5, net.n_params))
    X = rng.normal(size=(n, 6))
    P = net.predict(X)
    expected = net.forward(net.inputs(X))[0][-1]
    assert P.shape == (n, 4) and P.dtype == np.float64
    np.testing.assert_allclose(P, expected, rtol=1e-12, atol=1e-14)
