"""Seed 003: one hidden sigmoid layer, sigmoid outputs, cross-entropy error E(Θ), with
the bias folded into Θ as row 0: Θ⁽¹⁾ = [b⁽¹⁾ᵀ; W⁽¹⁾ᵀ] ∈ ℝ^((D_I+1)×D_H) and
Θ⁽²⁾ = [b⁽²⁾ᵀ; W⁽²⁾ᵀ] ∈ ℝ^((D_H+1)×D_O); samples are the columns of X.

The library's gradients (Algorithm 6.1) are compared with the boxed formulas
(6) ∂E/∂Θ⁽²⁾_{j,k} = Σₘ δ⁽³⁾_{k,m} Z_{j,m} and
(7) ∂E/∂Θ⁽¹⁾_{i,j} = Σₘ Θ⁽²⁾_j δ⁽³⁾_m σ′(A⁽¹⁾_{j,m}) X_{i,m},
evaluated independently in NumPy. Seed 003 *sums* E over the M samples while the
library's J is the mean, so E = M·J and ∂E/∂Θ = M·∂J/∂Θ.

    python scripts/seed003.py --device cpu --out out/seed003
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import backprop as bp  # noqa: E402
from backprop.device import to_host  # noqa: E402


def fold(W, b):
    """Θ with the bias as row 0: [bᵀ; Wᵀ] (seed 003's layout) from the library's (W, b)."""
    return np.vstack([b[None, :], W.T])


def boxed_gradients(theta1, theta2, X, L):
    """E(Θ) and the boxed formulas (6), (7) for X (D_I×M) and labels L (D_O×M), in NumPy."""
    sigma = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    M = X.shape[1]
    X1 = np.vstack([np.ones((1, M)), X])            # X_{0,m} = 1
    A1 = theta1.T @ X1
    Z = sigma(A1)
    Z1 = np.vstack([np.ones((1, M)), Z])            # Z_{0,m} = 1
    Y = sigma(theta2.T @ Z1)
    E = -np.sum(L * np.log(Y) + (1 - L) * np.log(1 - Y))
    delta3 = Y - L
    D_I, D_H, D_O = X.shape[0], Z.shape[0], Y.shape[0]
    grad2 = np.zeros((D_H + 1, D_O))
    for j in range(D_H + 1):                        # (6)
        for k in range(D_O):
            grad2[j, k] = np.sum(delta3[k, :] * Z1[j, :])
    grad1 = np.zeros((D_I + 1, D_H))
    sigma_prime = Z * (1 - Z)                       # σ′(A⁽¹⁾) = Z(1 − Z), as in (4)
    for i in range(D_I + 1):                        # (7); row j of Θ⁽²⁾ is Θ⁽²⁾_j
        for j in range(1, D_H + 1):
            grad1[i, j - 1] = np.sum((theta2[j, :] @ delta3) * sigma_prime[j - 1, :] * X1[i, :])
    return E, grad1, grad2


def compare(D_I=4, D_H=3, D_O=2, M=10, device="cpu", seed=0):
    """Library vs boxed formulas on random data: (E, M·J, max |difference| of (6), of (7))."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(M, D_I))                   # library: samples in rows
    L = (rng.uniform(size=(M, D_O)) < 0.5).astype(np.float64)
    net = bp.Sequential([bp.Dense(D_I, D_H, "sigmoid"), bp.Dense(D_H, D_O, "sigmoid")],
                        device=device, dtype="float64", seed=seed)
    J, grads = net.backprop(X, L, "sigmoid_cross_entropy")
    (W1, b1), (W2, b2) = [(to_host(layer.W), to_host(layer.b)) for layer in net.layers]
    E, grad1, grad2 = boxed_gradients(fold(W1, b1), fold(W2, b2), X.T, L.T)
    lib1, lib2 = (M * fold(to_host(dW), to_host(db)) for dW, db in grads)
    return {"E": E, "MJ": M * float(J), "diff6": float(np.max(np.abs(lib2 - grad2))),
            "diff7": float(np.max(np.abs(lib1 - grad1))), "lib": (lib1, lib2),
            "boxed": (grad1, grad2)}


def main(argv=None):
    parser = argparse.ArgumentParser(description="Seed 003's boxed formulas (6), (7)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="out/seed003")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    r = compare(device=args.device)
    print("D_I = 4, D_H = 3, D_O = 2, M = 10 samples, sigmoid hidden and output, float64")
    print(f"  E(Θ) by seed 003 (sum over samples): {r['E']:.12f}")
    print(f"  M · J(θ) by the library (mean)     : {r['MJ']:.12f}")
    print(f"  max |M·∂J/∂Θ⁽²⁾ − (6)| = {r['diff6']:.1e}")
    print(f"  max |M·∂J/∂Θ⁽¹⁾ − (7)| = {r['diff7']:.1e}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    for name, lib, boxed in (("Θ⁽¹⁾, (7)", r["lib"][0], r["boxed"][0]),
                             ("Θ⁽²⁾, (6)", r["lib"][1], r["boxed"][1])):
        ax.plot(boxed.ravel(), lib.ravel(), "o", label=name)
    lim = max(np.abs(r["boxed"][0]).max(), np.abs(r["boxed"][1]).max()) * 1.1
    ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.8)
    ax.set(xlabel="boxed formula (NumPy)", ylabel="library backprop × M",
           title="Seed 003: ∂E/∂Θ, bias in row 0")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "seed003_gradients.png", dpi=110)
    plt.close(fig)
    print(f"figure: {out / 'seed003_gradients.png'}")
    return r


if __name__ == "__main__":
    main()
