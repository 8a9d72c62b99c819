"""Seed 004: layers [3, 2, 3, 4], the arctan sigmoid σ(x) = arctan(x)/π + ½ in every
layer, the loss L = ½‖a⁽ᴸ⁾ − a*‖² (6), gradient descent with γ = 0.001 (26)–(27).

1. Backprop's gradient against central finite differences (`bp.gradcheck`).
2. Backprop's gradient against the seed's own recursion (10), (15), (19), (25),
   re-implemented here in NumPy one sample at a time, as in the seed's listing.
3. A few gradient-descent steps with γ = 0.001 on the seed's sample input (1, 1, 1)
   and target (2, 2, 2, 2): the library's parameters follow the seed's updates.

    python scripts/seed004.py --device cpu --out out/seed004
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import backprop as bp  # noqa: E402
from backprop.device import to_host  # noqa: E402

SIZES = [3, 2, 3, 4]


def build(device="cpu", seed=0):
    """The seed's network, float64, with the library's random initialisation."""
    layers = [bp.Dense(a, b, "arctan") for a, b in zip(SIZES[:-1], SIZES[1:])]
    return bp.Sequential(layers, device=device, dtype="float64", seed=seed)


def parameters(net):
    """Per-layer (W, b) of the network as NumPy arrays."""
    return [(to_host(layer.W), to_host(layer.b)) for layer in net.layers]


def seed_gradients(params, x, target):
    """The seed's recursion for one sample: ∇_B = σ′(z)⊙∇_A (10), ∇_W = ∇_B ⊗ a⁽ˡ⁻¹⁾ (15),
    ∇_A⁽ˡ⁻¹⁾ = (∇_B)ᵀW (19), starting from ∇_A⁽ᴸ⁾ = a⁽ᴸ⁾ − a* (25). Returns L and [(∇W, ∇B)]."""
    sigma = lambda z: np.arctan(z) / math.pi + 0.5  # noqa: E731
    d_sigma = lambda z: 1 / (math.pi * (1 + z * z))  # noqa: E731
    activations, zs = [np.asarray(x, dtype=np.float64)], []
    for W, b in params:
        zs.append(W @ activations[-1] + b)
        activations.append(sigma(zs[-1]))
    grad_a = activations[-1] - target
    loss = 0.5 * float(np.sum(grad_a ** 2))
    grads = []
    for l in range(len(params), 0, -1):
        grad_b = d_sigma(zs[l - 1]) * grad_a
        grads.append((np.tensordot(grad_b, activations[l - 1], axes=0), grad_b))
        grad_a = grad_b @ params[l - 1][0]
    return loss, grads[::-1]


def seed_descent(params, x, target, gamma, steps):
    """The seed's update W ← W − γ∇_W, B ← B − γ∇_B (26)–(27) repeated; returns the losses
    before each step and the final parameters."""
    losses = []
    for _ in range(steps):
        loss, grads = seed_gradients(params, x, target)
        losses.append(loss)
        params = [(W - gamma * dW, b - gamma * db) for (W, b), (dW, db) in zip(params, grads)]
    return losses, params


def compare_gradients(net, X, T):
    """Largest |library − seed| over all gradient entries, with the seed's per-sample
    gradients averaged over the rows of X (the library's J is the mean over samples)."""
    J, grads = net.backprop(X, T, bp.SquaredError(half=True))
    params = parameters(net)
    per_sample = [seed_gradients(params, x, t) for x, t in zip(X, T)]
    worst = abs(float(J) - np.mean([loss for loss, _ in per_sample]))
    for l, (dW, db) in enumerate(grads):
        ref_W = np.mean([g[l][0] for _, g in per_sample], axis=0)
        ref_b = np.mean([g[l][1] for _, g in per_sample], axis=0)
        worst = max(worst, np.max(np.abs(to_host(dW) - ref_W)),
                    np.max(np.abs(to_host(db) - ref_b)))
    return worst


def descend(device="cpu", steps=5, gamma=0.001, seed=0):
    """γ = 0.001 steps by `bp.fit` and by the seed's loop from the same start on the seed's
    sample; returns (library costs, seed losses, max parameter difference)."""
    x, target = np.ones((1, 3)), np.full((1, 4), 2.0)
    net = build(device, seed)
    start = parameters(net)
    history = bp.fit(net, bp.SquaredError(half=True), bp.SGD(lr=gamma), x, target,
                     epochs=steps)
    seed_losses, seed_params = seed_descent(start, x[0], target[0], gamma, steps)
    diff = max(np.max(np.abs(a - b)) for pair, ref in zip(parameters(net), seed_params)
               for a, b in zip(pair, ref))
    return history.cost, seed_losses, diff


def main(argv=None):
    parser = argparse.ArgumentParser(description="Seed 004's arctan network")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="out/seed004")
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(8, 3)), rng.uniform(0, 1, size=(8, 4))
    net = build(args.device)
    print(f"network {SIZES}, arctan sigmoid, L = ½‖a − a*‖², float64, {net.n_params} parameters")
    fd = bp.gradcheck(net, bp.SquaredError(half=True), X, T)
    print(f"  backprop vs central finite differences: max relative error {fd:.1e}")
    seed_diff = compare_gradients(net, X, T)
    print(f"  backprop vs the seed's recursion (10),(15),(19),(25): max |difference| "
          f"{seed_diff:.1e}")

    costs, seed_losses, diff = descend(args.device, steps=args.steps)
    print(f"gradient descent, γ = 0.001, input (1,1,1), target (2,2,2,2), {args.steps} steps")
    for k in (0, 1, 2, 3, 4, args.steps - 1):
        print(f"  step {k + 1:5d}: L = {costs[k]:.9f} (seed's loop {seed_losses[k]:.9f})")
    print(f"  max |θ_library − θ_seed| after {args.steps} steps: {diff:.1e}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(np.arange(1, len(costs) + 1), costs, color="tab:red", lw=2, label="backprop + bp.fit")
    ax.plot(np.arange(1, len(seed_losses) + 1), seed_losses, "k--", label="seed 004's loop")
    ax.set(xlabel="gradient-descent step (γ = 0.001)", ylabel="L = ½‖a⁽³⁾ − a*‖²",
           title="Seed 004: [3, 2, 3, 4] arctan network")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "seed004_descent.png", dpi=110)
    plt.close(fig)
    print(f"figure: {out / 'seed004_descent.png'}")
    return fd, seed_diff, diff


if __name__ == "__main__":
    main()
