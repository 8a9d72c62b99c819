"""Sample weights: the weighted mean cost J = Σᵢ sᵢLᵢ / Σᵢ sᵢ, its gradient, and `fit`.

References: the closed form of each loss evaluated row by row, integer weights against
repeated rows (a sample of weight 2 counts as two copies of it), finite differences,
and scikit-learn's L2 convention λ = α/Σᵢ sᵢ (`bp.PerSample`).
"""

import numpy as np
import pytest

import backprop as bp
from helpers import host

LOSSES = {"cross_entropy": "softmax", "sigmoid_cross_entropy": "sigmoid", "mse": None}


def _data(loss, rng, n=12):
    X = rng.normal(size=(n, 3))
    if loss == "cross_entropy":
        return X, rng.integers(0, 3, n)
    if loss == "sigmoid_cross_entropy":
        return X, rng.uniform(size=(n, 3))
    return X, rng.normal(size=(n, 3))


def _net(loss, device="cpu"):
    return bp.Sequential([bp.Dense(3, 4, "tanh"), bp.Dense(4, 3, LOSSES[loss])],
                         device=device, dtype="float64", seed=2)


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_weighted_cost_is_the_weighted_mean_of_the_row_costs(device, rng, loss):
    X, y = _data(loss, rng)
    s = rng.uniform(0.1, 3.0, len(X))
    net = _net(loss, device)
    rows = [float(net.backprop(X[i:i + 1], y[i:i + 1], loss)[0]) for i in range(len(X))]
    J = float(net.backprop(X, y, loss, sample_weight=s)[0])
    assert J == pytest.approx(np.dot(s, rows) / s.sum(), rel=1e-12)


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_integer_weights_equal_repeated_rows(rng, loss):
    X, y = _data(loss, rng)
    s = rng.integers(0, 4, len(X))
    s[0] = 2
    net = _net(loss)
    J_w, g_w = net.backprop(X, y, loss, weight_decay=0.1, sample_weight=s)
    J_r, g_r = net.backprop(np.repeat(X, s, axis=0), np.repeat(y, s, axis=0), loss,
                            weight_decay=0.1)
    assert float(J_w) == pytest.approx(float(J_r), rel=1e-12)
    np.testing.assert_allclose(host(net.flatten(g_w)), host(net.flatten(g_r)), rtol=1e-10,
                               atol=1e-14)


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_weighted_gradient_against_finite_differences(rng, loss):
    X, y = _data(loss, rng, n=7)
    s = rng.uniform(0.1, 3.0, 7)
    net = _net(loss)
    _, grads = net.backprop(X, y, loss, weight_decay=0.05, sample_weight=s)
    theta, analytic, eps = host(net.get_flat()), host(net.flatten(grads)), 1e-6
    numeric = np.empty_like(theta)
    for i in range(len(theta)):
        costs = []
        for sign in (1, -1):
            t = theta.copy()
            t[i] += sign * eps
            net.set_flat(t)
            costs.append(float(net.backprop(X, y, loss, weight_decay=0.05, sample_weight=s)[0]))
        numeric[i] = (costs[0] - costs[1]) / (2 * eps)
    net.set_flat(theta)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_fit_with_integer_weights_equals_full_batch_on_repeated_rows(rng):
    """Full-batch gradient descent: weights 0/1/2 ≡ dropping/keeping/doubling rows."""
    X, y = _data("cross_entropy", rng)
    s = rng.integers(0, 3, len(X))
    nets = [_net("cross_entropy") for _ in range(2)]
    h_w = bp.fit(nets[0], "cross_entropy", bp.SGD(0.3, momentum=0.5), X, y, epochs=20,
                 sample_weight=s)
    h_r = bp.fit(nets[1], "cross_entropy", bp.SGD(0.3, momentum=0.5), np.repeat(X, s, axis=0),
                 np.repeat(y, s, axis=0), epochs=20)
    np.testing.assert_allclose(h_w.cost, h_r.cost, rtol=1e-10)
    np.testing.assert_allclose(host(nets[0].get_flat()), host(nets[1].get_flat()), rtol=1e-10)


def test_per_sample_weight_decay_is_alpha_over_the_batch_weight(monkeypatch, rng):
    """λ = α/Σᵢ sᵢ batch by batch: 45 rows in batches of 20 → λ = α/20, α/20, α/5."""
    X, y = _data("cross_entropy", rng, n=45)
    seen = []
    original = bp.Sequential.gradients

    def spy(self, X, T, loss, weight_decay=0.0, *args, **kwargs):
        seen.append((X.shape[0], weight_decay))
        return original(self, X, T, loss, weight_decay, *args, **kwargs)

    monkeypatch.setattr(bp.Sequential, "gradients", spy)
    bp.fit(_net("cross_entropy"), "cross_entropy", bp.SGD(0.1, weight_decay=bp.PerSample(0.6)),
           X, y, epochs=1, batch_size=20)
    assert seen == [(20, 0.6 / 20), (20, 0.6 / 20), (5, 0.6 / 5)]
    seen.clear()
    s = rng.uniform(0.5, 2.0, 45)
    order = bp.device.Random(0).permutation(45)
    bp.fit(_net("cross_entropy"), "cross_entropy", bp.SGD(0.1, weight_decay=bp.PerSample(0.6)),
           X, y, epochs=1, batch_size=20, sample_weight=s)
    expected = [0.6 / s[order[a:a + 20]].sum() for a in (0, 20, 40)]
    np.testing.assert_allclose([d for _, d in seen], expected, rtol=1e-12)


@pytest.mark.parametrize("bad, message", [
    (np.ones(5), r"sample_weight must have shape \(12,\)"),
    (-np.ones(12), "finite numbers >= 0"),
    (np.full(12, np.nan), "finite numbers >= 0"),
    (np.zeros(12), "must not be all zero"),
    (np.array(["a"] * 12), "must hold numbers"),
])
def test_bad_sample_weights_are_refused_before_any_work(rng, bad, message):
    X, y = _data("cross_entropy", rng)
    net = _net("cross_entropy")
    before = host(net.get_flat())
    with pytest.raises(bp.BackpropError, match=message):
        bp.fit(net, "cross_entropy", bp.SGD(0.1), X, y, epochs=1, sample_weight=bad)
    with pytest.raises(bp.BackpropError, match=message):
        net.backprop(X, y, "cross_entropy", sample_weight=bad)
    np.testing.assert_array_equal(host(net.get_flat()), before)
