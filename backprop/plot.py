"""Figures in the style of seed 001: learning curves (Figures 6.7/6.8), a 1-D fit with
the hidden units' outputs (Figure 5.3) and a 2-D decision boundary (Figure 5.4).

matplotlib is an optional extra (``pip install 'backprop[plot]'``). Figures are built
as `matplotlib.figure.Figure` objects without pyplot, so no global backend is touched:
``path=`` saves a PNG (rendered by Agg) and every function returns the figure, which
notebooks display as usual.
"""

from __future__ import annotations

import numpy as np

from .device import to_host
from .errors import BackpropError

MINIBATCH, VALIDATION, HIDDEN = "tab:blue", "tab:red", "tab:gray"


def _figure(ncols, width=5.0, height=3.8):
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise BackpropError(
            "plotting needs matplotlib, which is not installed: "
            "pip install 'backprop[plot]'") from exc
    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    return fig, [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]


def _finish(fig, path):
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def learning_curves(history, path=None, title=None):
    """Cost (left) and misclassification (right) against the iteration, as Figures 6.7/6.8.

    Each mini-batch's value is drawn in blue, the validation set's (every ``eval_every``
    iterations) in red. Without misclassification values (regression) only the cost is
    drawn. Returns the figure; ``path`` also saves it as an image (PNG).
    """
    if not history.cost:
        raise BackpropError("history is empty: train for at least one iteration first")
    panels = [("cost", history.cost, history.val_cost)]
    if history.error:
        panels.append(("misclassification", history.error, history.val_error))
    fig, axes = _figure(len(panels))
    iterations = range(1, history.iterations + 1)
    for ax, (name, train, val) in zip(axes, panels):
        ax.plot(iterations, train, color=MINIBATCH, linewidth=0.7, label="mini-batch")
        if val:
            ax.plot(history.val_iteration, val, color=VALIDATION, linewidth=1.6, marker=".",
                    label="validation")
        ax.set_xlabel("iteration")
        ax.set_ylabel(name)
        ax.set_ylim(bottom=0)
        if name == "misclassification":
            ax.set_ylim(0, min(1.0, 1.1 * max(max(train), max(val or [0]))))
            ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def _hidden_and_output(net, X):
    """Host arrays of the first hidden layer's Z and the network's output for rows X."""
    with net.backend.context():
        Qs, Zs = net.forward(net.inputs(X))
        return to_host(Zs[0]), to_host(Qs[1]), to_host(Qs[-1])


def fit_1d(net, x, y, path=None, n_grid=200, ax=None):
    """A network with one input and one output on 1-D data, as Figure 5.3.

    Data points in blue, the network function in red and the outputs of the first
    hidden layer's units dashed. Returns the figure (``path`` saves it); with ``ax``,
    draws into that matplotlib axes instead of a new figure (e.g. one panel of a grid).
    """
    x = np.asarray(to_host(x), dtype=np.float64).reshape(-1)
    y = np.asarray(to_host(y), dtype=np.float64).reshape(-1)
    if net.n_inputs != 1 or net.n_outputs != 1 or x.shape != y.shape:
        raise BackpropError(
            f"fit_1d needs a network with 1 input and 1 output and x, y of equal length; got "
            f"{net.n_inputs} input(s), {net.n_outputs} output(s), {x.shape[0]} x, {y.shape[0]} y")
    grid = np.linspace(x.min(), x.max(), n_grid)
    _, hidden, out = _hidden_and_output(net, grid.reshape(-1, 1).astype(np.float32))
    if ax is None:
        fig, (ax,) = _figure(1)
    else:
        fig = ax.figure
    if len(net.layers) > 1:
        for k in range(hidden.shape[1]):
            ax.plot(grid, hidden[:, k], linestyle="--", color=HIDDEN, linewidth=1,
                    label="hidden units" if k == 0 else None)
    ax.plot(x, y, "o", color=MINIBATCH, markersize=4, label="data")
    ax.plot(grid, out[:, 0], color=VALIDATION, linewidth=2, label="network")
    ax.set_xlabel("x")
    ax.legend()
    return _finish(fig, path)


def decision_boundary(net, X, y, path=None, n_grid=200):
    """A 2-input classifier's decision regions and boundary with the data, as Figure 5.4.

    The network's boundary (output ½ for one sigmoid output, else where the arg max
    changes) is drawn in red, each first-layer hidden unit's midpoint contour (Z = 0:
    σ = ½, tanh = 0) dashed. Points are coloured by class. Returns the figure.
    """
    X = np.asarray(to_host(X), dtype=np.float64)
    y = np.asarray(to_host(y)).reshape(-1)
    if net.n_inputs != 2 or X.ndim != 2 or X.shape[1] != 2:
        raise BackpropError(
            f"decision_boundary needs a network with 2 inputs and X of shape (n, 2); got "
            f"{net.n_inputs} input(s) and X of shape {X.shape}")
    margin = 0.1 * (X.max(axis=0) - X.min(axis=0))
    lo, hi = X.min(axis=0) - margin, X.max(axis=0) + margin
    g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], n_grid), np.linspace(lo[1], hi[1], n_grid))
    grid = np.stack([g0.ravel(), g1.ravel()], axis=1).astype(np.float32)
    Z1, _, out = _hidden_and_output(net, grid)
    if out.shape[1] == 1:
        level, surface = 0.5, out[:, 0].reshape(g0.shape)
    else:
        level, surface = None, out.argmax(axis=1).reshape(g0.shape)
    fig, (ax,) = _figure(1, width=5.0, height=4.6)
    ax.contourf(g0, g1, surface, levels=[0.0, 0.5, 1.0] if level else
                np.arange(out.shape[1] + 1) - 0.5, cmap="coolwarm", alpha=0.25)
    ax.contour(g0, g1, surface, levels=[0.5] if level else np.arange(out.shape[1]) + 0.5,
               colors=VALIDATION, linewidths=2)
    if len(net.layers) > 1:
        for k in range(Z1.shape[1]):
            ax.contour(g0, g1, Z1[:, k].reshape(g0.shape), levels=[0.0], colors=MINIBATCH,
                       linestyles="--", linewidths=1)
    labels = y if np.issubdtype(y.dtype, np.integer) else (y > 0.5).astype(int)
    ax.scatter(X[:, 0], X[:, 1], c=labels, cmap="coolwarm", edgecolors="k", s=18)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    return _finish(fig, path)
