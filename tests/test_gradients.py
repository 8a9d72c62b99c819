"""Algorithm 6.1's gradients against independent references."""

import numpy as np
import pytest

import backprop as bp
from tests.helpers import ACTIVATION_NAMES, host, np_params, random_theta, targets_for

LOSSES = [bp.SquaredError(), bp.SquaredError(half=True), bp.SoftmaxCrossEntropy(),
          bp.SigmoidCrossEntropy()]


@pytest.mark.parametrize("weight_decay", [0.0, 0.3])
@pytest.mark.parametrize("loss", LOSSES, ids=repr)
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_gradcheck_every_activation_and_loss(device, rng, activation, loss, weight_decay):
    """Every activation, as hidden and as output layer, with every loss: rel. error < 1e-6."""
    net = bp.Sequential([bp.Dense(3, 4, activation), bp.Dense(4, 5, activation),
                         bp.Dense(5, 3, activation)], device=device, dtype="float64", seed=2)
    X = rng.normal(size=(6, 3))
    y = targets_for(loss, rng, 6, 3)
    random_theta(net, rng, X=X)
    assert bp.gradcheck(net, loss, X, y, weight_decay=weight_decay) < 1e-6


def test_gradcheck_detects_a_wrong_derivative(rng):
    """The check can fail: a user activation whose derivative is off by 10 % is caught."""
    cube = (lambda Z: Z ** 3, lambda Z: 3.3 * Z ** 2)
    net = bp.Sequential([bp.Dense(2, 3, cube), bp.Dense(3, 1)], dtype="float64")
    random_theta(net, rng)
    X, y = rng.normal(size=(5, 2)), rng.normal(size=(5, 1))
    assert bp.gradcheck(net, bp.SquaredError(), X, y) > 1e-2
    exact = bp.Sequential([bp.Dense(2, 3, (cube[0], lambda Z: 3 * Z ** 2)), bp.Dense(3, 1)],
                          dtype="float64")
    exact.set_flat(net.get_flat())
    assert bp.gradcheck(exact, bp.SquaredError(), X, y) < 1e-6


def test_full_batch_gradient_is_mean_of_online_gradients(device, rng):
    """Algorithm 6.1 in matrix form (6.28) equals the average of per-sample runs."""
    net = bp.Sequential([bp.Dense(4, 6, "tanh"), bp.Dense(6, 3)], device=device,
                        dtype="float64", seed=0)
    random_theta(net, rng)
    X, y = rng.normal(size=(8, 4)), rng.integers(0, 3, 8)
    J, grads = net.backprop(X, y, bp.SoftmaxCrossEntropy())
    flat = host(net.flatten(grads))
    online = [net.backprop(X[i:i + 1], y[i:i + 1], bp.SoftmaxCrossEntropy()) for i in range(8)]
    np.testing.assert_allclose(float(J), np.mean([float(j) for j, _ in online]), rtol=1e-12)
    mean_flat = np.mean([host(net.flatten(g)) for _, g in online], axis=0)
    np.testing.assert_allclose(flat, mean_flat, rtol=1e-10, atol=1e-14)


def test_weight_decay_adds_lambda_w_to_weights_only(rng):
    """Seed 000's L2 term: dW gains λW, db is unchanged, J gains λ/2 Σ‖W‖²."""
    net = bp.Sequential([bp.Dense(3, 4, "relu"), bp.Dense(4, 2)], dtype="float64")
    random_theta(net, rng)
    X, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    J0, g0 = net.backprop(X, y, bp.SquaredError())
    J1, g1 = net.backprop(X, y, bp.SquaredError(), weight_decay=0.25)
    params = np_params(net)
    assert float(J1) == pytest.approx(float(J0) + 0.125 * sum((W ** 2).sum() for W, _ in params))
    for (dW0, db0), (dW1, db1), (W, _) in zip(g0, g1, params):
        np.testing.assert_allclose(dW1, dW0 + 0.25 * W, rtol=1e-12)
        np.testing.assert_array_equal(db1, db0)


def test_seed003_augmented_ones_formulation(rng):
    """Seed 003: bias as row 0 of Θ, boxed formulas (6) and (7) computed independently."""
    D_I, D_H, D_O, M = 3, 4, 2, 7
    net = bp.Sequential([bp.Dense(D_I, D_H, "sigmoid"), bp.Dense(D_H, D_O, "sigmoid")],
                        dtype="float64", seed=5)
    random_theta(net, rng)
    (W1, b1), (W2, b2) = np_params(net)
    Theta1 = np.vstack([b1, W1.T])            # (D_I + 1) × D_H, row 0 = bias
    Theta2 = np.vstack([b2, W2.T])            # (D_H + 1) × D_O
    X = rng.normal(size=(D_I, M))             # seed 003 stores samples in columns
    L = rng.uniform(size=(D_O, M))
    sigma = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    ones = np.ones((1, M))
    A1 = Theta1.T @ np.vstack([ones, X])
    Z = sigma(A1)
    Y = sigma(Theta2.T @ np.vstack([ones, Z]))
    delta3 = Y - L
    dTheta2 = np.vstack([ones, Z]) @ delta3.T                                    # (6)
    dTheta1 = np.vstack([ones, X]) @ ((Theta2[1:] @ delta3) * Z * (1 - Z)).T    # (7)
    J, grads = net.backprop(X.T, L.T, bp.SigmoidCrossEntropy())
    (dW1, db1), (dW2, db2) = [(host(dW), host(db)) for dW, db in grads]
    # Seed 003's E sums over the M samples; the library's J averages: scale by M.
    np.testing.assert_allclose(M * np.vstack([db2, dW2.T]), dTheta2, rtol=1e-12)
    np.testing.assert_allclose(M * np.vstack([db1, dW1.T]), dTheta1, rtol=1e-12)
    E = -np.sum(L * np.log(Y) + (1 - L) * np.log(1 - Y))
    assert M * float(J) == pytest.approx(E, rel=1e-12)
