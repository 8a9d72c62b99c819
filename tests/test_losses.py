"""Losses against closed forms, stability from logits, target handling."""

import warnings

import numpy as np
import pytest

import backprop as bp
from tests.helpers import host

xp = bp.Sequential([bp.Dense(1, 1)]).xp


def test_softmax_cross_entropy_matches_closed_form(np_ops, rng):
    Z, y = rng.normal(size=(5, 4)), rng.integers(0, 4, 5)
    loss = bp.SoftmaxCrossEntropy()
    T = loss.targets(xp, xp.asarray(y), 4, xp.float64)
    J, dZ, _ = loss.evaluate(np_ops, xp.asarray(Z), T)
    P = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    assert float(J) == pytest.approx(-np.log(P[np.arange(5), y]).mean(), rel=1e-12)
    np.testing.assert_allclose(host(dZ), (P - np.eye(4)[y]) / 5, rtol=1e-12)  # (6.26b)


def test_probability_rows_equal_labels_when_one_hot(np_ops, rng):
    Z, y = xp.asarray(rng.normal(size=(5, 3))), rng.integers(0, 3, 5)
    loss = bp.SoftmaxCrossEntropy()
    from_labels = loss.cost(np_ops, Z, loss.targets(xp, xp.asarray(y), 3, xp.float64))
    from_rows = loss.cost(np_ops, Z, loss.targets(xp, xp.asarray(np.eye(3)[y]), 3, xp.float64))
    assert float(from_labels) == float(from_rows)


def test_squared_error_forms(np_ops, rng):
    """Algorithm 6.1: J = mean ‖y − z‖², dZ = −2(y − z)/n_b; seed 004: ½‖·‖², dZ = (z − y)/n_b."""
    Z, Y = rng.normal(size=(4, 2)), rng.normal(size=(4, 2))
    J, dZ, _ = bp.SquaredError().evaluate(np_ops, xp.asarray(Z), xp.asarray(Y))
    assert float(J) == pytest.approx(((Y - Z) ** 2).sum() / 4)
    np.testing.assert_allclose(host(dZ), -2 * (Y - Z) / 4)
    J, dZ, _ = bp.SquaredError(half=True).evaluate(np_ops, xp.asarray(Z), xp.asarray(Y))
    assert float(J) == pytest.approx(0.5 * ((Y - Z) ** 2).sum() / 4)
    np.testing.assert_allclose(host(dZ), (Z - Y) / 4)


def test_sigmoid_cross_entropy_matches_seed_003_error(np_ops, rng):
    Z, L = rng.normal(size=(6, 3)), rng.uniform(size=(6, 3))
    J, dZ, _ = bp.SigmoidCrossEntropy().evaluate(np_ops, xp.asarray(Z), xp.asarray(L))
    Y = 1 / (1 + np.exp(-Z))
    E = -np.sum(L * np.log(Y) + (1 - L) * np.log(1 - Y))
    assert float(J) == pytest.approx(E / 6, rel=1e-12)
    np.testing.assert_allclose(host(dZ), (Y - L) / 6, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_huge_logits_stay_finite_and_exact(np_ops, dtype):
    """|z| = 1e4: log-sum-exp and the from-logits BCE give the exact limits, no warnings."""
    d = getattr(xp, dtype)
    Z = xp.asarray([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype=d)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ce = bp.SoftmaxCrossEntropy()
        J, dZ, _ = ce.evaluate(np_ops, Z, ce.targets(xp, xp.asarray([1, 0]), 3, d))
        # Row 1: −z₁ + lse = 1e4 + 1e4; row 2: −(−1e4) + 1e4 + ln 2.
        assert float(J) == pytest.approx((2e4 + 2e4 + np.log(2)) / 2, rel=1e-6)
        assert np.isfinite(host(dZ)).all()
        T = xp.asarray([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]], dtype=d)
        J, dZ, _ = bp.SigmoidCrossEntropy().evaluate(np_ops, Z, T)
        # Only entry (1,2) is on the wrong side, costing |z| = 1e4; the z = 0 entry costs ln 2.
        assert float(J) == pytest.approx((1e4 + np.log(2)) / 2, rel=1e-6)
        assert np.isfinite(host(dZ)).all()
        S = host(np_ops.sigmoid(Z))
        assert S.tolist() == [[1.0, 0.0, 0.5], [0.0, 1.0, 1.0]]


def test_label_checks():
    ce = bp.SoftmaxCrossEntropy()
    with pytest.raises(bp.BackpropError, match=r"labels must lie in 0..2 .* got values from 0 to 3"):
        ce.targets(xp, xp.asarray([0, 3]), 3, xp.float32)
    with pytest.raises(bp.BackpropTypeError, match="must be integers"):
        ce.targets(xp, xp.asarray([0.0, 1.0]), 3, xp.float32)
    with pytest.raises(bp.BackpropError, match="probability distributions"):
        ce.targets(xp, xp.asarray([[0.5, 0.6, 0.0]]), 3, xp.float32)
    with pytest.raises(bp.BackpropError, match=r"must lie in \[0, 1\]"):
        bp.SigmoidCrossEntropy().targets(xp, xp.asarray([0.0, 2.0]), 1, xp.float32)


def test_unknown_loss_name():
    with pytest.raises(bp.BackpropError, match="loss must be a Loss or one of .*squared_error"):
        bp.losses.get("hinge")


def test_canonical_pairing_folds_the_link(rng):
    """Sigmoid output + sigmoid CE ≡ identity output + sigmoid CE: error ŷ − y (eq. 11.6)."""
    X, y = rng.normal(size=(5, 3)), rng.uniform(size=(5, 2))
    logits = bp.Sequential([bp.Dense(3, 2)], dtype="float64")
    probs = bp.Sequential([bp.Dense(3, 2, "sigmoid")], dtype="float64")
    J1, g1 = logits.backprop(X, y, bp.SigmoidCrossEntropy())
    J2, g2 = probs.backprop(X, y, bp.SigmoidCrossEntropy())
    assert float(J1) == float(J2)
    np.testing.assert_array_equal(host(logits.flatten(g1)), host(probs.flatten(g2)))
    np.testing.assert_allclose(host(probs(X)), 1 / (1 + np.exp(-host(logits(X)))))


def test_user_activation_named_like_the_link_is_not_folded(rng):
    """A user's h called ``sigmoid`` goes through the chain rule: here it is tanh, and
    sigmoid cross-entropy then takes tanh(Z) as its logits."""
    def sigmoid(Z):         # deliberately misnamed
        return np.tanh(Z)

    net = bp.Sequential([bp.Dense(3, 2, (sigmoid, lambda Z: 1 - np.tanh(Z) ** 2))],
                        dtype="float64")
    assert not net.folds(bp.SigmoidCrossEntropy())
    X, y = rng.normal(size=(5, 3)), rng.uniform(size=(5, 2))
    J = float(net.backprop(X, y, bp.SigmoidCrossEntropy())[0])
    Q = np.tanh(X @ host(net.layers[0].W).T)
    P = 1 / (1 + np.exp(-Q))
    assert J == pytest.approx(-np.sum(y * np.log(P) + (1 - y) * np.log(1 - P)) / 5, rel=1e-12)
    assert bp.gradcheck(net, bp.SigmoidCrossEntropy(), X, y) < 1e-6
