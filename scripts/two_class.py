"""Seed 001, Figure 5.4: a 2-2-1 network (tanh hidden units, logistic sigmoid output,
cross-entropy) on a two-class problem whose data come from two known Gaussian mixtures.

The figure shows the training data, each hidden unit's z = 0.5 contour (dashed blue),
the network's y = 0.5 decision boundary (red) and the Bayes-optimal boundary computed
from the generating densities (green). Prints the accuracy of the network and of the
Bayes classifier on the training data and on 10,000 fresh test points.

    python scripts/two_class.py --device cpu --out out/two_class
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import backprop as bp  # noqa: E402
from backprop.device import to_host  # noqa: E402
from backprop.synthetic import two_class, two_class_posterior  # noqa: E402


def train(n=200, epochs=2000, device="cpu", seed=0):
    """Train the 2-2-1 network of Figure 5.4 by full-batch gradient descent with momentum."""
    X, y = two_class(n, seed=seed)
    net = bp.Sequential([bp.Dense(2, 2, "tanh"), bp.Dense(2, 1, "sigmoid")], device=device,
                        dtype="float64", seed=seed)
    bp.fit(net, "sigmoid_cross_entropy", bp.SGD(lr=0.5, momentum=0.9), X, y, epochs=epochs)
    return net, (X, y)


def accuracies(net, X, y):
    """Fraction correct of the network (y ≥ ½) and of the Bayes classifier (posterior ≥ ½)."""
    network = np.mean((to_host(net.predict(X)) >= 0.5) == (y >= 0.5))
    bayes = np.mean((two_class_posterior(X)[:, None] >= 0.5) == (y >= 0.5))
    return float(network), float(bayes)


def plot(net, X, y, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g1, g2 = np.meshgrid(np.linspace(-2.5, 3, 300), np.linspace(-2.5, 3.2, 300))
    grid = np.column_stack([g1.ravel(), g2.ravel()])
    with net.backend.context():
        Qs, _ = net.forward(net.inputs(grid))
    hidden, output = to_host(Qs[1]), to_host(Qs[2])[:, 0]
    fig, ax = plt.subplots(figsize=(6.5, 6))
    ax.scatter(*X[y[:, 0] == 0].T, s=14, color="tab:blue", label="class 0")
    ax.scatter(*X[y[:, 0] == 1].T, s=14, color="tab:red", marker="x", label="class 1")
    for j in range(hidden.shape[1]):
        ax.contour(g1, g2, hidden[:, j].reshape(g1.shape), levels=[0.5], colors="tab:blue",
                   linestyles="dashed", linewidths=1)
    ax.contour(g1, g2, output.reshape(g1.shape), levels=[0.5], colors="tab:red",
               linewidths=2)
    ax.contour(g1, g2, two_class_posterior(grid).reshape(g1.shape), levels=[0.5],
               colors="tab:green", linewidths=2)
    ax.plot([], [], "--", color="tab:blue", label="hidden units z = 0.5")
    ax.plot([], [], color="tab:red", label="network y = 0.5")
    ax.plot([], [], color="tab:green", label="Bayes-optimal boundary")
    ax.set(title="Figure 5.4: 2 tanh hidden units, sigmoid output", xlabel="x₁", ylabel="x₂")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Figure 5.4: two-class problem")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="out/two_class")
    parser.add_argument("--epochs", type=int, default=2000)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    net, (X, y) = train(epochs=args.epochs, device=args.device)
    X_test, y_test = two_class(10_000, seed=1)
    results = {"train": accuracies(net, X, y), "test": accuracies(net, X_test, y_test)}
    print("2-2-1 network (tanh hidden, sigmoid output, cross-entropy), 200 training points")
    for split, (network, bayes) in results.items():
        print(f"  {split:<5} accuracy: network {100 * network:.2f} %   "
              f"Bayes-optimal {100 * bayes:.2f} %")
    plot(net, X, y, out / "fig5_4_two_class.png")
    print(f"figure: {out / 'fig5_4_two_class.png'}")
    return results


if __name__ == "__main__":
    main()
