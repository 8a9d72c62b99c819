"""Figures: learning curves, 1-D fit with hidden units, 2-D decision boundary."""

import sys

import numpy as np
import pytest

import backprop as bp

pytest.importorskip("matplotlib")
from backprop import plot  # noqa: E402


def is_png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_learning_curves_draw_minibatch_and_validation(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    net = bp.Sequential([bp.Dense(2, 4, "tanh"), bp.Dense(4, 2, "softmax")])
    history = bp.fit(net, "cross_entropy", bp.SGD(0.5), X, y, epochs=3, batch_size=10,
                     validation_data=(X, y), eval_every=2)
    fig = plot.learning_curves(history, tmp_path / "c.png", title="t")
    assert is_png(tmp_path / "c.png")
    cost_ax, error_ax = fig.axes
    (mini, val), (mini_e, val_e) = cost_ax.get_lines(), error_ax.get_lines()
    assert mini.get_ydata().tolist() == history.cost
    assert val.get_xdata().tolist() == history.val_iteration
    assert val_e.get_ydata().tolist() == history.val_error
    assert mini.get_color() != val.get_color()


def test_learning_curves_for_regression_have_one_panel():
    history = bp.History(cost=[3.0, 2.0, 1.0])
    assert len(plot.learning_curves(history).axes) == 1
    with pytest.raises(bp.BackpropError, match="empty"):
        plot.learning_curves(bp.History())


def test_fit_1d_draws_data_network_and_each_hidden_unit(tmp_path):
    x = np.linspace(-1, 1, 50, dtype=np.float32)
    net = bp.Sequential([bp.Dense(1, 3, "tanh"), bp.Dense(3, 1)])
    bp.fit(net, "squared_error", bp.SGD(0.1), x.reshape(-1, 1), x ** 2, epochs=20)
    fig = plot.fit_1d(net, x, x ** 2, tmp_path / "f.png")
    lines = fig.axes[0].get_lines()
    assert sum(line.get_linestyle() == "--" for line in lines) == 3
    network = lines[-1].get_ydata()
    grid = lines[-1].get_xdata().astype(np.float32).reshape(-1, 1)
    np.testing.assert_allclose(network, np.asarray(net.predict(grid))[:, 0], rtol=1e-6)
    assert is_png(tmp_path / "f.png")
    with pytest.raises(bp.BackpropError, match="1 input and 1 output"):
        plot.fit_1d(bp.Sequential([bp.Dense(2, 1)]), x, x)


def test_decision_boundary(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 2)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.float32)
    net = bp.Sequential([bp.Dense(2, 2, "tanh"), bp.Dense(2, 1, "sigmoid")])
    bp.fit(net, "sigmoid_cross_entropy", bp.SGD(0.5), X, y, epochs=30)
    plot.decision_boundary(net, X, y, tmp_path / "d.png")
    assert is_png(tmp_path / "d.png")
    with pytest.raises(bp.BackpropError, match="2 inputs"):
        plot.decision_boundary(bp.Sequential([bp.Dense(3, 1)]), X, y)


def test_missing_matplotlib_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(bp.BackpropError, match=r"pip install 'backprop\[plot\]'"):
        plot.learning_curves(bp.History(cost=[1.0]))
