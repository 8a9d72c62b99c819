"""Fast versions of the seed reproductions in scripts/ (see docs/reproductions.md).

Each test runs a script's own functions with small iteration counts and asserts the
result that matters: XOR exactly, MSE and accuracy bounds, gradient agreement with
independent references (finite differences, the seeds' formulas in NumPy), the Armijo
condition, and one MNIST epoch when the shared data are present.
"""

import sys
from pathlib import Path

import array_api_strict
import numpy as np
import pytest

import backprop as bp
from backprop.device import to_host
from backprop.synthetic import CURVES, curve, two_class, two_class_posterior, xor

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import curves as curves_script  # noqa: E402
import mnist as mnist_script  # noqa: E402
import seed003  # noqa: E402
import seed004  # noqa: E402
import two_class as two_class_script  # noqa: E402
import xor as xor_script  # noqa: E402

MNIST_DIR = ROOT.parent / "shared" / "data" / "mnist"


# -- synthetic data -------------------------------------------------------------------
def test_synthetic_shapes_and_determinism():
    X, y = xor()
    assert X.shape == (4, 2) and y.shape == (4, 1)
    np.testing.assert_array_equal(y[:, 0], np.logical_xor(X[:, 0], X[:, 1]))
    for name in CURVES:
        X, y = curve(name, n=50, seed=3)
        assert X.shape == y.shape == (50, 1) and X.dtype == np.float64
        assert np.all(np.abs(X) < 1) and np.all(np.diff(X[:, 0]) >= 0)
        np.testing.assert_array_equal(curve(name, n=50, seed=3)[1], y)
    np.testing.assert_allclose(curve("sin", seed=1)[1], np.sin(curve("sin", seed=1)[0]))
    X, y = two_class(101, seed=2)
    assert X.shape == (101, 2) and y.shape == (101, 1) and int(y.sum()) == 51
    with pytest.raises(bp.BackpropError, match="name must be one of"):
        curve("cos")
    with pytest.raises(bp.BackpropError, match="n must be at least 2"):
        two_class(1)


def test_two_class_posterior_matches_the_generator():
    """Among generated points with posterior in a bin, the fraction of class 1 is the
    posterior (calibration): the density formula and the sampler describe the same data."""
    X, y = two_class(40_000, seed=5)
    p = two_class_posterior(X)
    edges = np.linspace(0, 1, 6)
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (p >= lo) & (p < hi)
        assert inside.sum() > 500
        assert abs(y[inside, 0].mean() - p[inside].mean()) < 0.03


# -- 1. XOR ---------------------------------------------------------------------------
def test_hand_set_relu_network_is_exactly_xor():
    X, y = xor()
    net = xor_script.hand_set_network()
    np.testing.assert_array_equal(to_host(net.predict(X)), y)
    Q = xor_script.features(net, X)
    np.testing.assert_array_equal(Q, [[0, 0], [1, 0], [1, 0], [2, 1]])


def test_trained_xor_with_three_tanh_units():
    ok = xor_script.success_rate(3, "tanh", lambda: bp.SGD(lr=0.05, momentum=0.9), 1500,
                                 seeds=range(3))
    assert all(ok)


# -- 2. Figure 5.3 --------------------------------------------------------------------
@pytest.mark.parametrize("name, bound", [("x2", 1e-3), ("sin", 1e-4), ("abs", 5e-3),
                                         ("heaviside", 2e-2)])
def test_curve_fit_mse(name, bound):
    _, (X, y), mse, history = curves_script.fit_curve(name, epochs=1500)
    assert mse < bound
    assert history.cost[-1] == pytest.approx(mse, rel=0.2)  # J is the MSE (one output)
    assert mse < 0.05 * np.var(y)


# -- 3. Figure 5.4 --------------------------------------------------------------------
def test_two_class_accuracy_close_to_bayes():
    net, _ = two_class_script.train(n=200, epochs=800)
    X_test, y_test = two_class(5000, seed=1)
    network, bayes = two_class_script.accuracies(net, X_test, y_test)
    assert bayes > 0.9
    assert network > bayes - 0.04


# -- 4. seed 004 ----------------------------------------------------------------------
def test_seed004_gradients_and_descent():
    rng = np.random.default_rng(1)
    X, T = rng.normal(size=(6, 3)), rng.uniform(size=(6, 4))
    net = seed004.build(seed=1)
    assert bp.gradcheck(net, bp.SquaredError(half=True), X, T) < 1e-6
    assert seed004.compare_gradients(net, X, T) < 1e-12
    costs, seed_losses, diff = seed004.descend(steps=5, seed=1)
    np.testing.assert_allclose(costs, seed_losses, rtol=1e-12)
    assert diff < 1e-12
    assert np.all(np.diff(costs) < 0)


# -- 5. seed 003 ----------------------------------------------------------------------
def test_seed003_boxed_formulas():
    r = seed003.compare(D_I=3, D_H=4, D_O=3, M=7, seed=2)
    assert r["MJ"] == pytest.approx(r["E"], rel=1e-12)
    assert r["diff6"] < 1e-12 and r["diff7"] < 1e-12
    assert np.abs(r["boxed"][1]).max() > 1e-2  # the comparison is not between zeros


# -- 6. line search -------------------------------------------------------------------
def _curve_net(seed=0, device="cpu"):
    return bp.Sequential([bp.Dense(1, 3, "tanh"), bp.Dense(3, 1)], device=device,
                         dtype="float64", seed=seed)


def test_line_search_satisfies_armijo_every_step():
    X, y = curve("x2")
    net, search = _curve_net(), bp.LineSearch(lr=10.0, c=0.1)
    for _ in range(30):
        J, grads = net.backprop(X, y, "squared_error")
        g2 = float(to_host(net.xp.sum(net.flatten(grads) ** 2)))
        bp.fit(net, "squared_error", search, X, y)
        J_new = float(net.backprop(X, y, "squared_error")[0])
        assert search.steps[-1] > 0
        assert J_new <= float(J) - 0.1 * search.steps[-1] * g2 + 1e-15
    assert search.evaluations >= 2 * 30


def test_line_search_converges_where_fixed_rate_diverges():
    X, y = curve("x2")
    with np.errstate(all="ignore"):
        fixed = bp.fit(_curve_net(), "squared_error", bp.SGD(lr=0.8), X, y, epochs=200).cost
    searched = bp.fit(_curve_net(), "squared_error", bp.LineSearch(lr=10.0), X, y,
                      epochs=200).cost
    assert not np.isfinite(fixed[-1]) or fixed[-1] > fixed[0]
    assert np.all(np.diff(searched) <= 0) and searched[-1] < 0.01 * searched[0]


def test_line_search_keeps_theta_when_no_step_is_accepted():
    X, y = curve("sin")
    net = _curve_net()
    theta = to_host(net.get_flat())
    search = bp.LineSearch(lr=1e6, max_trials=1)
    with np.errstate(all="ignore"):
        bp.fit(net, "squared_error", search, X, y)
    assert search.steps == [0.0]
    np.testing.assert_array_equal(to_host(net.get_flat()), theta)


def test_line_search_with_weight_decay_on_strict_backend():
    """Standard-only array code (array_api_strict); J includes the λ/2‖W‖² term."""
    array_api_strict.set_array_api_strict_flags(api_version="2024.12")
    X, y = curve("abs", n=20)
    net = _curve_net(device=array_api_strict)
    cost = bp.fit(net, "squared_error", bp.LineSearch(weight_decay=0.01), X, y, epochs=20).cost
    assert np.all(np.diff(cost) <= 0)
    assert net.layers[0].W.dtype == array_api_strict.float64


@pytest.mark.parametrize("kwargs, match", [({"lr": 0}, "lr"), ({"c": 1.0}, "c must"),
                                           ({"shrink": 1}, "shrink"), ({"grow": 0.5}, "grow"),
                                           ({"max_trials": 0}, "max_trials")])
def test_line_search_rejects_bad_settings(kwargs, match):
    with pytest.raises(bp.BackpropError, match=match):
        bp.LineSearch(**kwargs)


# -- 7. MNIST (reduced) ---------------------------------------------------------------
@pytest.mark.skipif(not MNIST_DIR.is_dir(), reason="shared MNIST data not present")
def test_mnist_one_epoch_two_layer_below_5_percent():
    """One epoch (600 iterations) of Example 6.2's 784-200-10 ReLU network, γ = 0.5,
    batch 100: the validation error is below 5 % (the full 15 epochs reach ≈ 2 %)."""
    (X, y), (Xv, yv) = bp.datasets.mnist(MNIST_DIR, download=False)
    assert X.shape == (60_000, 784) and Xv.shape == (10_000, 784)
    assert np.bincount(yv).tolist()[:3] == [980, 1135, 1032]
    net = mnist_script.build([200], "cpu", "float32", 0)
    h = bp.fit(net, "softmax_cross_entropy", bp.SGD(lr=0.5), X, y, batch_size=100,
               validation_data=(Xv, yv), eval_every=100)
    assert h.iterations == 600 and h.val_iteration == [100, 200, 300, 400, 500, 600]
    assert h.val_error[-1] < 0.05


def test_mnist_shift_augmentation_moves_pixels_by_at_most_shift():
    X = np.zeros((50, 784), dtype=np.float32)
    X[:, 14 * 28 + 14] = 1.0  # one bright pixel in the centre of every image
    S = mnist_script.shifted(X, 2, np.random.default_rng(0))
    assert S.dtype == np.float32 and S.shape == X.shape
    rows, cols = np.nonzero(S.reshape(50, 28, 28) == 1.0)[1:]
    assert np.all(S.sum(axis=1) == 1.0)
    assert np.all(np.abs(rows - 14) <= 2) and np.all(np.abs(cols - 14) <= 2)
    assert len(set(zip(rows.tolist(), cols.tolist()))) > 10  # the shifts really vary
