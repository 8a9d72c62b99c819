"""Seed 001: solving XOR with a two-layer network.

1. The hand-set ReLU network W⁽¹⁾ = [[1, 1], [1, 1]], b⁽¹⁾ = (0, −1), W⁽²⁾ = (1, −2),
   b⁽²⁾ = 0 gives exactly 0, 1, 1, 0 and maps (0,1) and (1,0) both to the feature (1,0).
2. 2-H-1 networks trained from random initialisation (full-batch gradient descent,
   squared error) over 20 seeds: how often each setting learns XOR (all four outputs
   on the right side of ½).

    python scripts/xor.py --device cpu --out out/xor
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import backprop as bp  # noqa: E402
from backprop.device import to_host  # noqa: E402
from backprop.synthetic import xor  # noqa: E402

# (hidden units, hidden activation, optimizer factory, epochs) for the random-init study.
SETTINGS = [
    (2, "relu", lambda: bp.SGD(lr=0.05, momentum=0.9), 2000),
    (2, "tanh", lambda: bp.SGD(lr=0.5), 2000),
    (2, "tanh", lambda: bp.SGD(lr=0.05, momentum=0.9), 2000),
    (2, "tanh", lambda: bp.LineSearch(), 300),
    (3, "tanh", lambda: bp.SGD(lr=0.05, momentum=0.9), 2000),
    (4, "tanh", lambda: bp.SGD(lr=0.05, momentum=0.9), 2000),
]


def hand_set_network(device="cpu"):
    """Seed 001's XOR network: ReLU hidden layer, linear output, weights set by hand."""
    net = bp.Sequential([bp.Dense(2, 2, "relu"), bp.Dense(2, 1)], device=device,
                        dtype="float64")
    W1, b1, W2, b2 = [[1.0, 1.0], [1.0, 1.0]], [0.0, -1.0], [[1.0, -2.0]], [0.0]
    net.set_flat(np.concatenate([np.ravel(W1, order="F"), b1, np.ravel(W2, order="F"), b2]))
    return net


def features(net, X):
    """The hidden layer's output q = max(0, W⁽¹⁾x + b⁽¹⁾): the feature-space mapping."""
    with net.backend.context():
        Qs, _ = net.forward(net.inputs(X))
    return to_host(Qs[1])


def learns_xor(net, X, y):
    """True when every output is on the correct side of ½."""
    return bool(np.array_equal(to_host(net.predict(X)) > 0.5, y > 0.5))


def success_rate(hidden, activation, make_optimizer, epochs, device="cpu", seeds=range(20)):
    """Seeds (of the initial weights) for which a 2-hidden-1 network learns XOR."""
    X, y = xor()
    ok = []
    for seed in seeds:
        net = bp.Sequential([bp.Dense(2, hidden, activation), bp.Dense(hidden, 1)],
                            device=device, dtype="float64", seed=seed)
        bp.fit(net, "squared_error", make_optimizer(), X, y, epochs=epochs)
        ok.append(learns_xor(net, X, y))
    return ok


def plot(net, path):
    """Input space (left) and the hidden layer's feature space (right), with the output's
    y = ½ line in feature space (q₁ − 2q₂ = ½)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, y = xor()
    Q = features(net, X)
    colors = np.where(y[:, 0] > 0.5, "tab:red", "tab:blue")
    fig, (ax_in, ax_q) = plt.subplots(1, 2, figsize=(9, 4))
    ax_in.scatter(X[:, 0], X[:, 1], c=colors, s=120)
    ax_in.set(title="input space x", xlabel="x₁", ylabel="x₂", xlim=(-0.3, 1.3),
              ylim=(-0.3, 1.3))
    ax_q.scatter(Q[:, 0], Q[:, 1], c=colors, s=120)
    labels = {}
    for (x1, x2), q in zip(X, Q):
        labels.setdefault(tuple(q), []).append(f"x = ({x1:.0f},{x2:.0f})")
    for q, names in labels.items():
        ax_q.annotate(" and ".join(names), q, textcoords="offset points", xytext=(8, 6))
    q1 = np.linspace(-0.3, 2.3, 2)
    ax_q.plot(q1, (q1 - 0.5) / 2, "k--", label="y = ½")
    ax_q.set(title="feature space q = ReLU(W⁽¹⁾x + b⁽¹⁾)", xlabel="q₁", ylabel="q₂",
             xlim=(-0.3, 2.3), ylim=(-0.3, 1.3))
    ax_q.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Seed 001's XOR network")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="out/xor")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    X, y = xor()
    net = hand_set_network(args.device)
    outputs = to_host(net.predict(X))[:, 0]
    print("hand-set ReLU network (seed 001)")
    for x, q, out_ in zip(X, features(net, X), outputs):
        print(f"  x = ({x[0]:.0f}, {x[1]:.0f})  ->  q = ({q[0]:.0f}, {q[1]:.0f})  ->  "
              f"y = {out_:g}")
    print(f"  exactly XOR: {np.array_equal(outputs, y[:, 0])}")
    plot(net, out / "xor_features.png")

    print("\n2-H-1 networks from random initialisation, squared error, full batch, 20 seeds")
    results = []
    for hidden, activation, make_optimizer, epochs in SETTINGS:
        ok = success_rate(hidden, activation, make_optimizer, epochs, args.device)
        failed = [seed for seed, good in enumerate(ok) if not good]
        results.append((hidden, activation, repr(make_optimizer()), epochs, sum(ok)))
        print(f"  2-{hidden}-1 {activation:<4} {make_optimizer()!r:<70} {epochs:5d} epochs: "
              f"{sum(ok):2d}/20  failed seeds {failed}")
    print(f"\nfigure: {out / 'xor_features.png'}")
    return outputs, results


if __name__ == "__main__":
    main()
