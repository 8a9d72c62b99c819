"""fit and SGD: schedules of iterations, learning curves, updates, reproducibility."""

import numpy as np
import pytest

import array_api_strict
import backprop as bp
from tests.helpers import host, np_params


def two_blobs(rng, n=200):
    X = np.concatenate([rng.normal(-1, 0.7, (n // 2, 2)), rng.normal(1, 0.7, (n // 2, 2))])
    return X, np.repeat([0, 1], n // 2)


def test_training_lowers_the_cost(device, rng):
    """Quadrants of the plane, XOR-style: no linear rule works, the hidden layer must learn."""
    X = rng.uniform(-1, 1, (200, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    net = bp.Sequential([bp.Dense(2, 16, "tanh"), bp.Dense(16, 2)], device=device)
    history = bp.fit(net, bp.SoftmaxCrossEntropy(), bp.SGD(0.5, momentum=0.9), X, y, epochs=40,
                     batch_size=20, validation_data=(X, y), eval_every=50)
    assert history.cost[0] > 0.6
    assert np.mean(history.cost[-10:]) < 0.5 * history.cost[0]
    assert history.val_error[-1] < 0.1


@pytest.mark.parametrize("batch_size, per_epoch", [(None, 1), (1, 12), (5, 3), (12, 1), (50, 1)])
def test_iterations_per_epoch(rng, batch_size, per_epoch):
    """Full batch: 1 iteration; online: n; mini-batch: ⌈n/n_b⌉ (the last one smaller)."""
    X, y = rng.normal(size=(12, 2)), rng.normal(size=12)
    net = bp.Sequential([bp.Dense(2, 1)])
    history = bp.fit(net, "squared_error", bp.SGD(0.01), X, y, epochs=3, batch_size=batch_size)
    assert history.iterations == 3 * per_epoch
    assert history.error == []          # regression: no misclassification


def test_validation_every_eval_every_iterations_and_at_the_end(rng):
    X, y = two_blobs(rng, 100)
    net = bp.Sequential([bp.Dense(2, 2)])
    h = bp.fit(net, "cross_entropy", bp.SGD(0.1), X, y, epochs=2, batch_size=10,
               validation_data=(X[:30], y[:30]), eval_every=6)
    assert h.val_iteration == [6, 12, 18, 20]
    assert len(h.val_cost) == len(h.val_error) == 4 and len(h.error) == 20
    P = host(net(X[:30]))
    assert h.val_error[-1] == pytest.approx(np.mean(P.argmax(axis=1) != y[:30]))


def test_full_batch_gd_is_one_backprop_and_one_update(rng):
    """One epoch of full-batch GD is exactly θ ← θ − γ ∇J(θ) (6.21)."""
    X, y = rng.normal(size=(9, 3)), rng.integers(0, 2, 9)
    net = bp.Sequential([bp.Dense(3, 4, "relu"), bp.Dense(4, 2)], dtype="float64")
    theta = host(net.get_flat())
    J, grads = net.backprop(X, y, "cross_entropy", weight_decay=0.01)
    expected = theta - 0.3 * host(net.flatten(grads))
    h = bp.fit(net, "cross_entropy", bp.SGD(0.3, weight_decay=0.01), X, y, epochs=1)
    # atol: the NumPy fast path folds γ into dZ, which rounds near-zero sums differently
    np.testing.assert_allclose(host(net.get_flat()), expected, rtol=1e-14, atol=1e-16)
    assert h.cost == pytest.approx([float(J)], rel=1e-14)


def test_momentum_matches_hand_computed_steps(rng):
    """Heavy ball: v₁ = g₁, θ₁ = θ₀ − γv₁; v₂ = μv₁ + g₂, θ₂ = θ₁ − γv₂."""
    X, y = rng.normal(size=(6, 2)), rng.normal(size=(6, 1))
    net = bp.Sequential([bp.Dense(2, 3, "tanh"), bp.Dense(3, 1)], dtype="float64")
    ref = bp.Sequential([bp.Dense(2, 3, "tanh"), bp.Dense(3, 1)], dtype="float64")
    opt = bp.SGD(0.1, momentum=0.9)
    theta = host(ref.get_flat())
    g1 = host(ref.flatten(ref.backprop(X, y, "mse")[1]))
    ref.set_flat(theta - 0.1 * g1)
    g2 = host(ref.flatten(ref.backprop(X, y, "mse")[1]))
    expected = theta - 0.1 * g1 - 0.1 * (0.9 * g1 + g2)
    bp.fit(net, "mse", opt, X, y, epochs=2)
    np.testing.assert_allclose(host(net.get_flat()), expected, rtol=1e-13)


def test_same_seed_same_training_on_numpy_and_strict(rng):
    X, y = two_blobs(rng, 60)
    results = []
    for device in ("cpu", array_api_strict, (array_api_strict, array_api_strict.Device("device1"))):
        net = bp.Sequential([bp.Dense(2, 5, "relu"), bp.Dense(5, 2)], device=device, seed=4)
        h = bp.fit(net, "cross_entropy", bp.SGD(0.2, momentum=0.5), X, y, epochs=3,
                   batch_size=7, seed=9)
        results.append((host(net.get_flat()), h.cost))
    # strict on two devices: the same operations, bit for bit
    np.testing.assert_array_equal(results[2][0], results[1][0])
    assert results[2][1] == results[1][1]
    # NumPy's buffered operations: the same math in another order, equal to rounding
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-5)


def test_shuffling_follows_the_seed(rng):
    X, y = two_blobs(rng, 40)
    runs = {}
    for seed in (0, 0, 1):
        net = bp.Sequential([bp.Dense(2, 2)], seed=0)
        runs.setdefault(seed, []).append(
            bp.fit(net, "cross_entropy", bp.SGD(0.1), X, y, epochs=1, batch_size=8, seed=seed).cost)
    assert runs[0][0] == runs[0][1] and runs[0][0] != runs[1][0]


def test_fit_does_not_mutate_inputs(rng):
    X, y = two_blobs(rng, 40)
    X0, y0 = X.copy(), y.copy()
    bp.fit(bp.Sequential([bp.Dense(2, 2)]), "cross_entropy", bp.SGD(0.1), X, y, epochs=2,
           batch_size=8)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": 0}, "epochs must be a positive int; got 0"),
    ({"batch_size": -1}, "batch_size must be a positive int; got -1"),
    ({"eval_every": 2.5}, "eval_every must be a positive int; got 2.5"),
])
def test_fit_argument_errors(rng, kwargs, message):
    X, y = two_blobs(rng, 10)
    with pytest.raises(bp.BackpropError, match=message):
        bp.fit(bp.Sequential([bp.Dense(2, 2)]), "cross_entropy", bp.SGD(0.1), X, y, **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"lr": 0}, "lr must be a number > 0 or a schedule; got 0"),
    ({"lr": 0.1, "momentum": 1.0}, r"momentum must be a number in \[0, 1\); got 1.0"),
    ({"lr": 0.1, "weight_decay": -1}, "weight_decay must be a number >= 0 or a callable of the batch weight; got -1"),
])
def test_sgd_argument_errors(kwargs, message):
    with pytest.raises(bp.BackpropError, match=message):
        bp.SGD(**kwargs)


def test_weight_decay_shrinks_weights(rng):
    X, y = two_blobs(rng, 40)
    norms = []
    for decay in (0.0, 0.1):
        net = bp.Sequential([bp.Dense(2, 6, "tanh"), bp.Dense(6, 2)], seed=1)
        bp.fit(net, "cross_entropy", bp.SGD(0.5, weight_decay=decay), X, y, epochs=20)
        norms.append(sum((W ** 2).sum() for W, _ in np_params(net)))
    assert norms[1] < 0.8 * norms[0]
