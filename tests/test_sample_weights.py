"""Sample weights in the losses, `Sequential.backprop` and `fit`, and scikit-learn's alpha
(`bp.PerSample`), against independent references: the same rows repeated (integer
weights), the closed form of the weighted mean, central finite differences and a
hand-written loop of single steps."""

import numpy as np
import pytest

import backprop as bp
from backprop.optim import PerSample
from backprop.step import _normalised
from helpers import host, random_theta

E, TE = bp.BackpropError, bp.BackpropTypeError
WEIGHTS = np.array([0, 1, 2, 3, 1, 0, 2])        # zeros included: those rows drop out

LOSSES = [
    pytest.param(bp.SquaredError(), None, id="squared_error"),
    pytest.param(bp.SquaredError(half=True), "tanh", id="half_squared_error_tanh_output"),
    pytest.param(bp.SoftmaxCrossEntropy(), "softmax", id="softmax_cross_entropy"),
    pytest.param(bp.SigmoidCrossEntropy(), None, id="sigmoid_cross_entropy"),
]


def _problem(rng, loss, last):
    net = bp.Sequential([bp.Dense(3, 4, "tanh"), bp.Dense(4, 3, last)], dtype="float64")
    random_theta(net, rng)
    X = rng.normal(size=(7, 3))
    if isinstance(loss, bp.SoftmaxCrossEntropy):
        y = rng.integers(0, 3, 7)
    elif isinstance(loss, bp.SigmoidCrossEntropy):
        y = rng.uniform(size=(7, 3))
    else:
        y = rng.normal(size=(7, 3))
    return net, X, y


@pytest.mark.parametrize("loss, last", LOSSES)
def test_weighted_backprop_equals_backprop_on_repeated_rows(device, rng, loss, last):
    """Integer weights count rows: J and every gradient equal those of the repeated data
    (the repeated batch's plain mean), on every backend; λ from `PerSample` is
    alpha over the total weight = the repeated batch's size."""
    net, X, y = _problem(rng, loss, last)
    theta = host(net.get_flat())
    net = bp.Sequential([bp.Dense(3, 4, "tanh"), bp.Dense(4, 3, last)], device=device,
                        dtype="float64")
    net.set_flat(theta)
    decay = PerSample(0.7)
    J_w, g_w = net.backprop(X, y, loss, weight_decay=decay, sample_weight=WEIGHTS)
    J_r, g_r = net.backprop(np.repeat(X, WEIGHTS, axis=0), np.repeat(y, WEIGHTS, axis=0), loss,
                            weight_decay=0.7 / WEIGHTS.sum())
    np.testing.assert_allclose(float(host(J_w)), float(host(J_r)), rtol=1e-12)
    np.testing.assert_allclose(host(net.flatten(g_w)), host(net.flatten(g_r)),
                               rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("loss, last", LOSSES)
def test_weighted_cost_is_the_weighted_mean_of_per_sample_costs(rng, loss, last):
    """J = Σᵢ wᵢLᵢ / Σᵢ wᵢ with Lᵢ the cost of row i alone (closed form of the mean)."""
    net, X, y = _problem(rng, loss, last)
    w = rng.uniform(0.1, 3.0, 7)
    per_row = [float(net.backprop(X[i:i + 1], y[i:i + 1], loss)[0]) for i in range(7)]
    J = float(net.backprop(X, y, loss, sample_weight=w)[0])
    assert J == pytest.approx(np.dot(w, per_row) / w.sum(), rel=1e-12)


@pytest.mark.parametrize("loss, last", LOSSES)
def test_weighted_gradient_matches_central_differences(rng, loss, last):
    net, X, y = _problem(rng, loss, last)
    w = rng.uniform(0.0, 2.0, 7)
    decay = PerSample(0.3)
    theta = host(net.get_flat())

    def J(t):
        net.set_flat(t)
        return float(net.backprop(X, y, loss, weight_decay=decay, sample_weight=w)[0])

    eps = 1e-6
    numeric = np.array([(J(theta + eps * e) - J(theta - eps * e)) / (2 * eps)
                        for e in np.eye(theta.size)])
    net.set_flat(theta)
    analytic = host(net.flatten(net.backprop(X, y, loss, weight_decay=decay,
                                             sample_weight=w)[1]))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_per_sample_decay_adds_alpha_over_total_weight(rng):
    """½·alpha·Σ‖W‖²/Σw on the cost (scikit-learn's L2 term) and alpha·W/Σw on dW."""
    net, X, y = _problem(rng, bp.SoftmaxCrossEntropy(), "softmax")
    w = rng.uniform(0.5, 2.0, 7)
    J0, g0 = net.backprop(X, y, "cross_entropy", sample_weight=w)
    J1, g1 = net.backprop(X, y, "cross_entropy", weight_decay=PerSample(0.9),
                          sample_weight=w)
    squares = sum(np.sum(layer.W ** 2) for layer in net.layers)
    assert float(J1) - float(J0) == pytest.approx(0.5 * 0.9 * squares / w.sum(), rel=1e-12)
    for layer, (dW0, db0), (dW1, db1) in zip(net.layers, g0, g1):
        np.testing.assert_allclose(dW1 - dW0, 0.9 * layer.W / w.sum(), rtol=1e-10, atol=1e-15)
        np.testing.assert_array_equal(db1, db0)


def test_per_sample_decay():
    decay = PerSample(0.5)
    assert decay(4) == 0.125 and decay(0) == 0.0
    assert repr(bp.SGD(0.1, weight_decay=decay)) == \
        "SGD(lr=0.1, momentum=0.0, weight_decay=PerSample(0.5))"
    with pytest.raises(E, match="alpha must be a number >= 0; got -1"):
        PerSample(-1)


def test_a_batch_of_zero_weight_adds_nothing(np_ops):
    net = bp.Sequential([bp.Dense(1, 1)])
    xp = net.xp
    Z, T = xp.asarray([[1.0, 2.0], [3.0, 0.0]]), xp.asarray([[0.0, 1.0], [1.0, 0.0]])
    weights = _normalised(xp, xp.zeros(2))
    assert np.all(weights == 0)
    for loss in (bp.SquaredError(), bp.SoftmaxCrossEntropy(), bp.SigmoidCrossEntropy()):
        J, dZ, _ = loss.evaluate(np_ops, Z, T, weights=weights)
        assert float(J) == 0.0 and np.all(dZ == 0)


@pytest.mark.parametrize("batch_size", [None, 3])
def test_fit_with_weights_and_batch_scaled_decay_matches_single_steps(rng, batch_size):
    """fit(shuffle=False) against a loop of backprop + SGD steps written out by hand, with
    λ_b = alpha/Σw_b per batch (batches of 3, 3 and 1: the last gets its own λ)."""
    X, y, w = rng.normal(size=(7, 3)), rng.integers(0, 2, 7), rng.uniform(0.5, 2.0, 7)
    layers = lambda: [bp.Dense(3, 4, "relu"), bp.Dense(4, 2, "softmax")]
    a, b = bp.Sequential(layers(), dtype="float64"), bp.Sequential(layers(), dtype="float64")
    opt = bp.SGD(0.3, momentum=0.5, weight_decay=PerSample(0.8))
    bp.fit(a, "cross_entropy", opt, X, y, epochs=3, batch_size=batch_size, sample_weight=w,
           shuffle=False)
    reference = bp.SGD(0.3, momentum=0.5)
    n_b = batch_size or 7
    for _ in range(3):
        for start in range(0, 7, n_b):
            rows = slice(start, start + n_b)
            grads = b.backprop(X[rows], y[rows], "cross_entropy",
                               weight_decay=0.8 / w[rows].sum(), sample_weight=w[rows])[1]
            reference.step(b, grads)
    np.testing.assert_allclose(host(a.get_flat()), host(b.get_flat()), rtol=1e-12, atol=1e-14)


def test_fit_with_integer_weights_equals_fit_on_repeated_rows(device, rng):
    X, y = rng.normal(size=(7, 3)), rng.integers(0, 3, 7)
    nets = [bp.Sequential([bp.Dense(3, 5, "tanh"), bp.Dense(5, 3)], device=device,
                          dtype="float64") for _ in range(2)]
    for net, data, weights in ((nets[0], (X, y), WEIGHTS),
                               (nets[1], (np.repeat(X, WEIGHTS, 0), np.repeat(y, WEIGHTS)), None)):
        bp.fit(net, "cross_entropy", bp.Adam(0.05, weight_decay=PerSample(0.1)), *data,
               epochs=5, sample_weight=weights)
    np.testing.assert_allclose(host(nets[0].get_flat()), host(nets[1].get_flat()), rtol=1e-10)


def test_fit_shuffles_unless_told_not_to(rng):
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 2, 20)
    thetas = []
    for shuffle in (True, False):
        net = bp.Sequential([bp.Dense(3, 2)], dtype="float64")
        bp.fit(net, "cross_entropy", bp.SGD(0.5), X, y, epochs=2, batch_size=5, shuffle=shuffle)
        thetas.append(net.get_flat())
    assert not np.allclose(*thetas)


@pytest.mark.parametrize("weights, error, message", [
    (np.ones(6), E, r"sample_weight must have shape \(7,\), one weight per sample; got shape \(6,\)"),
    (np.ones((7, 1)), E, r"sample_weight must have shape \(7,\)"),
    (np.array([1, -1, 1, 1, 1, 1, 1.0]), E, "finite and non-negative with a positive sum"),
    (np.array([1, np.nan, 1, 1, 1, 1, 1]), E, "finite and non-negative"),
    (np.zeros(7), E, "positive sum; got values from 0 to 0, sum 0"),
    (np.array(list("abcdefg")), TE, "sample_weight must be numeric"),
])
def test_sample_weight_errors(rng, weights, error, message):
    net = bp.Sequential([bp.Dense(3, 2)])
    X, y = rng.normal(size=(7, 3)), rng.integers(0, 2, 7)
    theta = host(net.get_flat()).copy()
    with pytest.raises(error, match=message):
        net.backprop(X, y, "cross_entropy", sample_weight=weights)
    with pytest.raises(error, match=message):
        bp.fit(net, "cross_entropy", bp.SGD(0.1), X, y, sample_weight=weights)
    np.testing.assert_array_equal(host(net.get_flat()), theta)


def test_adam_eps_hat_is_kingma_and_bas_reordered_update(rng):
    """One step from a fresh state, written out: θ − γ·√(1−β₂)/(1−β₁)·m/(√v + ε) with
    m = (1−β₁)g, v = (1−β₂)g², against the default θ − γ·m̂/(√v̂ + ε)."""
    net = bp.Sequential([bp.Dense(3, 2)], dtype="float64")
    X, y = rng.normal(size=(5, 3)), rng.integers(0, 2, 5)
    theta0 = host(net.get_flat()).copy()
    g = host(net.flatten(net.backprop(X, y, "cross_entropy")[1]))
    lr, b1, b2, eps = 0.1, 0.8, 0.9, 0.5
    for eps_hat, expected in (
            (True, theta0 - lr * np.sqrt(1 - b2) / (1 - b1) * (1 - b1) * g
             / (np.sqrt((1 - b2) * g * g) + eps)),
            (False, theta0 - lr * g / (np.sqrt(g * g) + eps))):
        net.set_flat(theta0)
        opt = bp.Adam(lr, beta1=b1, beta2=b2, eps=eps, eps_hat=eps_hat)
        opt.step(net, net.backprop(X, y, "cross_entropy")[1])
        np.testing.assert_allclose(host(net.get_flat()), expected, rtol=1e-12)


def test_per_sample_weight_decay_is_alpha_over_the_batch_weight(monkeypatch, rng):
    """λ = α/Σᵢ sᵢ batch by batch: 45 rows in batches of 20 → λ = α/20, α/20, α/5."""
    X, y = rng.normal(size=(45, 3)), rng.integers(0, 3, 45)
    net = lambda: bp.Sequential([bp.Dense(3, 4, "tanh"), bp.Dense(4, 3, "softmax")],
                                dtype="float64", seed=2)
    seen = []
    original = bp.Sequential.gradients

    def spy(self, X, T, loss, weight_decay=0.0, *args, **kwargs):
        seen.append((X.shape[0], weight_decay))
        return original(self, X, T, loss, weight_decay, *args, **kwargs)

    monkeypatch.setattr(bp.Sequential, "gradients", spy)
    bp.fit(net(), "cross_entropy", bp.SGD(0.1, weight_decay=bp.PerSample(0.6)),
           X, y, epochs=1, batch_size=20)
    assert seen == [(20, 0.6 / 20), (20, 0.6 / 20), (5, 0.6 / 5)]
    seen.clear()
    s = rng.uniform(0.5, 2.0, 45)
    order = bp.device.Random(0).permutation(45)
    bp.fit(net(), "cross_entropy", bp.SGD(0.1, weight_decay=bp.PerSample(0.6)),
           X, y, epochs=1, batch_size=20, sample_weight=s)
    expected = [0.6 / s[order[a:a + 20]].sum() for a in (0, 20, 40)]
    np.testing.assert_allclose([d for _, d in seen], expected, rtol=1e-12)
