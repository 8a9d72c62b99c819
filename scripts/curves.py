"""Seed 001, Figure 5.3: a two-layer network with 3 tanh hidden units approximates
x², sin(x), |x| and the Heaviside step H(x) from N = 50 points uniform on (−1, 1).

Full-batch gradient descent with momentum on the squared error (6.19); the 2×2 figure
shows the data (blue dots), the network function (red) and the three hidden units'
outputs (dashed). Prints the final mean squared error per target.

    python scripts/curves.py --device cpu --out out/curves
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import backprop as bp  # noqa: E402
from backprop import plot  # noqa: E402
from backprop.device import to_host  # noqa: E402
from backprop.synthetic import CURVES, curve  # noqa: E402

TITLES = {"x2": "f(x) = x²", "sin": "f(x) = sin(x)", "abs": "f(x) = |x|",
          "heaviside": "f(x) = H(x)"}


def fit_curve(name, epochs=3000, device="cpu", seed=0, make_optimizer=None):
    """Train 1-3-1 (tanh hidden, linear output) on curve ``name``; return (net, data, MSE)."""
    X, y = curve(name, n=50, seed=seed)
    net = bp.Sequential([bp.Dense(1, 3, "tanh"), bp.Dense(3, 1)], device=device,
                        dtype="float64", seed=seed)
    optimizer = make_optimizer() if make_optimizer else bp.SGD(lr=0.1, momentum=0.9)
    history = bp.fit(net, "squared_error", optimizer, X, y, epochs=epochs)
    mse = float(np.mean((to_host(net.predict(X)) - y) ** 2))
    return net, (X, y), mse, history


def main(argv=None):
    parser = argparse.ArgumentParser(description="Figure 5.3: function approximation")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="out/curves")
    parser.add_argument("--epochs", type=int, default=3000)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 7), layout="constrained")
    axes = fig.subplots(2, 2)
    results = {}
    print(f"1-3-1 tanh network, N = 50, full-batch SGD lr 0.1 momentum 0.9, {args.epochs} epochs")
    for ax, name in zip(axes.ravel(), CURVES):
        net, (X, y), mse, _ = fit_curve(name, args.epochs, args.device)
        results[name] = mse
        print(f"  {TITLES[name]:<15} mean squared error {mse:.2e}")
        plot.fit_1d(net, X, y, ax=ax)
        ax.set(title=f"{TITLES[name]}  (MSE {mse:.1e})", xlim=(-1, 1))
    fig.suptitle("Figure 5.3: 3 tanh hidden units, linear output")
    fig.savefig(out / "fig5_3_curves.png", dpi=110)
    print(f"figure: {out / 'fig5_3_curves.png'}")
    return results


if __name__ == "__main__":
    main()
