"""Numerics at extreme logits, and divergence handling in `fit` (issue 6).

References are closed forms: for logits z and label k, softmax cross-entropy is
ln Σⱼ e^{zⱼ} − z_k, which for |z| ~ 1e4 equals max(z) − z_k up to e^{−1e4} (0 in any
float); sigmoid cross-entropy of z against t is softplus(z) − t z, with softplus(z) = z
for z ≫ 1 and 0 for z ≪ −1.
"""

import warnings

import array_api_compat.numpy as xp
import numpy as np
import pytest

import backprop as bp
from backprop.activations import ACTIVATIONS

DTYPES = ["float32", "float64"]


@pytest.fixture(autouse=True)
def no_float_warnings():
    """Overflow, division by zero and invalid values fail the test (underflow to 0 is fine)."""
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        yield


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_at_1e4(np_ops, dtype):
    Z = np.array([[1e4, -1e4, 0.0]] * 3 + [[-1e4, -1e4, -1e4]], dtype=dtype)
    labels = np.array([0, 1, 2, 1])
    T = np.eye(3, dtype=dtype)[labels]
    J, dZ, _ = bp.SoftmaxCrossEntropy().evaluate(np_ops, xp.asarray(Z), xp.asarray(T))
    # per-row costs: 0, 2e4, 1e4, ln 3; gradient rows (softmax − one-hot)/n
    expected_J = (0.0 + 2e4 + 1e4 + np.log(3.0)) / 4
    P = np.array([[1, 0, 0]] * 3 + [[1 / 3] * 3])
    assert J.dtype == Z.dtype and dZ.dtype == Z.dtype
    np.testing.assert_allclose(float(J), expected_J, rtol=1e-6)
    np.testing.assert_allclose(dZ, (P - np.eye(3)[labels]) / 4, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_cross_entropy_at_1e4(np_ops, dtype):
    Z = np.array([[1e4], [1e4], [-1e4], [-1e4], [1e4]], dtype=dtype)
    T = np.array([[0.0], [1.0], [0.0], [1.0], [0.3]], dtype=dtype)
    J, dZ, _ = bp.SigmoidCrossEntropy().evaluate(np_ops, xp.asarray(Z), xp.asarray(T))
    # softplus(z) − t z row by row: 1e4, 0, 0, 1e4, 0.7e4
    np.testing.assert_allclose(float(J), (1e4 + 0 + 0 + 1e4 + 0.7e4) / 5, rtol=1e-6)
    sigma = np.array([[1.0], [1.0], [0.0], [0.0], [1.0]])
    np.testing.assert_allclose(dZ, (sigma - T) / 5, rtol=1e-6, atol=1e-7)
    assert J.dtype == Z.dtype and dZ.dtype == Z.dtype


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_saturate_without_warnings(np_ops, name, dtype):
    Z = xp.asarray(np.array([[-1e30, -1e4, -50.0, 0.0, 50.0, 1e4, 1e30]], dtype=dtype))
    act = ACTIVATIONS[name]
    Q = act.forward(np_ops, Z)
    dZ = act.backward(np_ops, xp.ones_like(Z), Z, Q)
    assert np.all(np.isfinite(Q)) and np.all(np.isfinite(dZ))
    assert Q.dtype == Z.dtype and dZ.dtype == Z.dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_limits(np_ops, dtype):
    Z = xp.asarray(np.array([-1e4, -30.0, 0.0, 30.0, 1e4], dtype=dtype))
    Q = ACTIVATIONS["sigmoid"].forward(np_ops, Z)
    np.testing.assert_allclose(Q, [0.0, np.exp(-30.0), 0.5, 1.0, 1.0], rtol=1e-6, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_arctan_derivative_closed_form(np_ops, dtype):
    """σ′(z) = 1/(π(1 + z²)) (seed 004); beyond |z| = 1e18 (where z² would overflow
    float32) it may be up to 3.2e-37 instead of ~0."""
    z = np.array([-1e30, -1e4, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 1e4, 1e30])
    Z = xp.asarray(z.astype(dtype))
    act = ACTIVATIONS["arctan"]
    dZ = act.backward(np_ops, xp.ones_like(Z), Z, act.forward(np_ops, Z))
    expected = 1 / (np.pi * (1 + z.astype(np.float64) ** 2))
    np.testing.assert_allclose(dZ, expected, rtol=1e-6, atol=3.2e-37)
    assert dZ.dtype == Z.dtype


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss, out", [("cross_entropy", "softmax"),
                                       ("sigmoid_cross_entropy", "sigmoid")])
def test_network_gradients_finite_at_saturation(loss, out, dtype):
    """Weights scaled so hidden sigmoids and output logits reach ~1e4: J and ∇θJ finite."""
    net = bp.Sequential([bp.Dense(4, 5, "sigmoid"), bp.Dense(5, 3, out)], dtype=dtype, seed=1)
    net.set_flat(net.get_flat() * 2e4)
    X = np.random.default_rng(0).normal(size=(6, 4)).astype(dtype)
    y = np.array([0, 1, 2, 0, 1, 2]) if loss == "cross_entropy" else \
        np.eye(3, dtype=dtype)[[0, 1, 2, 0, 1, 2]]
    _, Z = net.forward(xp.asarray(X), fold_last=True)
    assert float(np.max(np.abs(Z[-1]))) > 1e3          # really saturated
    J, grads = net.backprop(X, y, loss)
    assert np.isfinite(float(J)) and float(J) > 100
    for dW, db in grads:
        assert np.all(np.isfinite(dW)) and np.all(np.isfinite(db)) and dW.dtype == np.dtype(dtype)


# -- divergence ---------------------------------------------------------------------------
def _regression(n=64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)).astype(np.float32) * 10
    return X, rng.normal(size=(n, 1)).astype(np.float32)


def _net():
    return bp.Sequential([bp.Dense(3, 8, "tanh"), bp.Dense(8, 1)], seed=3)


@pytest.mark.filterwarnings("ignore")
def test_divergence_stops_with_epoch_iteration_and_advice():
    X, y = _regression()
    net = _net()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")   # the diverging epoch overflows, by design
        with pytest.raises(bp.DivergenceError) as info:
            bp.fit(net, "mse", bp.SGD(lr=5.0), X, y, epochs=20, batch_size=8)
    e = info.value
    assert isinstance(e, bp.BackpropError)
    costs = e.history.cost
    first_bad = next(i for i, J in enumerate(costs) if not np.isfinite(J)) + 1
    assert e.iteration == first_bad and e.epoch == (first_bad - 1) // 8 + 1
    assert len(costs) == 8 * e.epoch                  # stopped at the end of that epoch
    assert f"at iteration {e.iteration} (epoch {e.epoch})" in str(e)
    assert "smaller learning rate than lr=5.0" in str(e)
    # The model holds the last finite weights: those at the start of the diverging epoch,
    # which a same-seed run of the epochs before reproduces bit for bit.
    theta = net.get_flat()
    assert np.all(np.isfinite(theta))
    reference = _net()
    if e.epoch > 1:
        bp.fit(reference, "mse", bp.SGD(lr=5.0), X, y, epochs=e.epoch - 1, batch_size=8)
    np.testing.assert_array_equal(theta, reference.get_flat())


def test_divergence_in_the_last_update_is_caught():
    """Full batch, one epoch: J is finite but the update overflows θ; θ₀ is restored."""
    X, y = _regression()
    net = _net()
    theta0 = net.get_flat()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        with pytest.raises(bp.DivergenceError,
                           match=r"the parameters became NaN/Inf in the update of iteration 1 "
                                 r"\(epoch 1\).*smaller learning rate") as info:
            bp.fit(net, "mse", bp.SGD(lr=1e300), X, y, epochs=1)
    assert info.value.iteration == 1 and info.value.epoch == 1
    assert np.isfinite(info.value.history.cost[0])
    np.testing.assert_array_equal(net.get_flat(), theta0)


def test_no_divergence_error_for_stable_training():
    X, y = _regression()
    X = X / 10
    history = bp.fit(_net(), "mse", bp.SGD(lr=0.01), X, y, epochs=3, batch_size=16)
    assert history.iterations == 12 and all(np.isfinite(history.cost))
