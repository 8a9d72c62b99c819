"""Seed 000 (§11.2): full-batch gradient descent whose learning rate is chosen by a
backtracking (Armijo) line search each iteration (`bp.LineSearch`), against a fixed
learning rate γ, on Figure 5.3's curve-fitting problems (1-3-1 tanh network, N = 50).

Every run starts from the same initial weights; the figure shows the cost J(θ) per
iteration (log scale) for each target. Prints the final cost, and for the line search
the number of evaluations of J it spent and the range of accepted step sizes.

    python scripts/linesearch.py --device cpu --out out/linesearch
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import backprop as bp  # noqa: E402
from backprop.synthetic import CURVES, curve  # noqa: E402

FIXED = (0.05, 0.2, 0.8)


def run(name, optimizer, iterations, device="cpu", seed=0):
    """Cost per iteration of full-batch training of 1-3-1 tanh on curve ``name``
    (a too large fixed γ diverges to inf/nan: NumPy's overflow warnings are silenced)."""
    X, y = curve(name, n=50, seed=seed)
    net = bp.Sequential([bp.Dense(1, 3, "tanh"), bp.Dense(3, 1)], device=device,
                        dtype="float64", seed=seed)
    with np.errstate(all="ignore"):
        return bp.fit(net, "squared_error", optimizer, X, y, epochs=iterations).cost


def main(argv=None):
    parser = argparse.ArgumentParser(description="Armijo line search vs fixed learning rate")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="out/linesearch")
    parser.add_argument("--iterations", type=int, default=1000)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    print(f"1-3-1 tanh, N = 50, full batch, {args.iterations} iterations; final cost J")
    results = {}
    for ax, name in zip(axes.ravel(), CURVES):
        costs = {f"fixed γ = {g}": run(name, bp.SGD(lr=g), args.iterations, args.device)
                 for g in FIXED}
        search = bp.LineSearch(lr=10.0)
        costs["Armijo line search"] = run(name, search, args.iterations, args.device)
        results[name] = {k: v[-1] for k, v in costs.items()}
        steps = np.array(search.steps)
        line = "  ".join(f"{k}: {v[-1]:.2e}" if np.isfinite(v[-1]) else f"{k}: diverged"
                         for k, v in costs.items())
        print(f"  {name:<10} {line}")
        print(f"  {'':<10} line search: {search.evaluations} evaluations of J "
              f"({search.evaluations / args.iterations:.1f} per iteration), accepted η from "
              f"{steps[steps > 0].min():.3g} to {steps.max():.3g}")
        for label, cost in costs.items():
            cost = np.array(cost)
            cost[~(cost < 1e6)] = np.nan  # inf, nan and runaway values of a diverged run
            ax.semilogy(np.arange(1, len(cost) + 1), cost, label=label,
                        lw=2 if "line" in label else 1)
        finite = np.concatenate([np.array(c)[np.isfinite(c)] for c in costs.values()])
        ax.set(title=name, xlabel="iteration", ylabel="J(θ)",
               ylim=(finite.min() / 2, 2 * costs["Armijo line search"][0]))
        ax.legend(fontsize=8)
    fig.suptitle("Seed 000: backtracking (Armijo) line search vs fixed γ, full batch")
    fig.tight_layout()
    fig.savefig(out / "linesearch.png", dpi=110)
    plt.close(fig)
    print(f"figure: {out / 'linesearch.png'}")
    return results


if __name__ == "__main__":
    main()
