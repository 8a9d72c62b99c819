"""Seed 001, Examples 6.1/6.2: MNIST with logistic regression and a 784-200-10 ReLU network.

SGD with γ = 0.5, mini-batches of 100, 15 epochs (9,000 iterations); the cost and
misclassification of every mini-batch and, every 100 iterations, of the 10,000
validation images (Figures 6.7 and 6.8). The seed reports ≈ 8 % and ≈ 2 % validation
misclassification.

    python scripts/mnist.py --device cpu --out out/mnist                # both seed models
    python scripts/mnist.py --hidden 800 800 --momentum 0.9 --lr 0.05 --weight-decay 1e-4 \\
        --lr-decay 0.9 --shift 2 --epochs 30 --out out/mnist           # beyond the seed

The four IDX files are read by `backprop.datasets.mnist` from ``--data-dir`` (default
../shared/data/mnist).
Each epoch prints its wall time on the chosen device. Writes ``<name>.png`` (cost and
misclassification curves) and ``<name>.json`` (the curves and the final numbers).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import backprop as bp  # noqa: E402
from backprop import plot  # noqa: E402

def shifted(X, shift, rng):
    """Each 28×28 image moved by a random (dx, dy) ∈ {−shift, …, shift}², zero-filled:
    data augmentation on the host, redrawn every epoch."""
    n = X.shape[0]
    padded = np.pad(X.reshape(n, 28, 28), ((0, 0), (shift, shift), (shift, shift)))
    dx, dy = rng.integers(-shift, shift + 1, size=(2, n))
    out = np.empty_like(X).reshape(n, 28, 28)
    for a in range(-shift, shift + 1):
        for b in range(-shift, shift + 1):
            rows = np.flatnonzero((dx == a) & (dy == b))
            out[rows] = padded[rows, shift - b:shift - b + 28, shift - a:shift - a + 28]
    return out.reshape(n, 784)


def build(hidden, device, dtype, seed):
    """784 → hidden ReLU layers → 10 softmax outputs; ``hidden=[]`` is logistic regression."""
    sizes = [784, *hidden, 10]
    layers = [bp.Dense(a, b, "relu") for a, b in zip(sizes[:-2], sizes[1:-1])]
    layers.append(bp.Dense(sizes[-2], 10, "softmax"))
    return bp.Sequential(layers, device=device, dtype=dtype, seed=seed)


def train(name, hidden, train_data, val_data, args, log=print):
    """Run SGD epoch by epoch (timing each) and return the merged curves and results."""
    net = build(hidden, args.device, args.dtype, args.seed)
    optimizer = bp.SGD(lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    with net.backend.context():  # move the data to the device once, not every epoch
        X, y = (net.backend.asarray(a, name="X") for a in train_data)
        Xv, yv = (net.backend.asarray(a, name="X_val") for a in val_data)
    curves = bp.History()
    epoch_times = []
    log(f"== {name}: {net}\n   {optimizer}, batch {args.batch_size}, {args.epochs} epochs, "
        f"lr decay {args.lr_decay}/epoch, random shifts of up to {args.shift} pixel(s)")
    rng = np.random.default_rng(args.seed)
    for epoch in range(args.epochs):
        start = time.perf_counter()
        if args.shift:
            with net.backend.context():
                X = net.backend.asarray(shifted(train_data[0], args.shift, rng), name="X")
        h = bp.fit(net, "softmax_cross_entropy", optimizer, X, y, epochs=1,
                   batch_size=args.batch_size, validation_data=(Xv, yv), eval_every=100,
                   seed=args.seed * 1000 + epoch)
        epoch_times.append(time.perf_counter() - start)
        offset = curves.iterations
        curves.cost += h.cost
        curves.error += h.error
        curves.val_iteration += [offset + t for t in h.val_iteration]
        curves.val_cost += h.val_cost
        curves.val_error += h.val_error
        optimizer.lr *= args.lr_decay
        log(f"   epoch {epoch + 1:2d}  {epoch_times[-1]:6.2f} s  train cost "
            f"{np.mean(h.cost):.4f}  val cost {h.val_cost[-1]:.4f}  "
            f"val error {100 * h.val_error[-1]:.2f} %")
    result = {
        "name": name, "hidden": hidden, "device": str(net.device), "dtype": args.dtype,
        "lr": args.lr, "momentum": args.momentum, "weight_decay": args.weight_decay,
        "lr_decay": args.lr_decay, "shift": args.shift, "batch_size": args.batch_size,
        "epochs": args.epochs, "seed": args.seed, "iterations": curves.iterations,
        "final_val_error": curves.val_error[-1], "best_val_error": min(curves.val_error),
        "seconds_per_epoch": float(np.median(epoch_times)), "epoch_seconds": epoch_times,
        "curves": curves.as_dict(),
    }
    log(f"   final validation error {100 * result['final_val_error']:.2f} % "
        f"(best {100 * result['best_val_error']:.2f} %), "
        f"median {result['seconds_per_epoch']:.2f} s/epoch")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--out", default="out/mnist", help="folder for figures and JSON")
    parser.add_argument("--data-dir", default="../shared/data/mnist")
    parser.add_argument("--model", choices=["logreg", "two-layer", "both"], default="both",
                        help="seed models of Example 6.2 (ignored when --hidden is given)")
    parser.add_argument("--hidden", type=int, nargs="*", default=None,
                        help="hidden ReLU layer sizes of a custom model, e.g. 800 800")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--momentum", type=float, default=0.0)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--lr-decay", type=float, default=1.0,
                        help="multiply the learning rate by this after every epoch")
    parser.add_argument("--shift", type=int, default=0,
                        help="augment: shift training images by up to this many pixels")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train_data, val_data = bp.datasets.mnist(args.data_dir, download=False)
    if args.hidden is not None:
        name = "mnist-" + "-".join(map(str, [784, *args.hidden, 10]))
        title = (f"784-{'-'.join(map(str, args.hidden))}-10 ReLU, SGD γ = {args.lr} "
                 f"(×{args.lr_decay}/epoch), momentum {args.momentum}, "
                 f"λ = {args.weight_decay}, shifts ≤ {args.shift} px")
        runs = [(name, args.hidden, title)]
    else:
        runs = [("fig6_7_logreg", [], "Figure 6.7: logistic regression"),
                ("fig6_8_two_layer", [200], "Figure 6.8: two-layer network, U = 200 ReLU")]
        runs = [r for r in runs if args.model == "both"
                or (args.model == "logreg") == (r[1] == [])]
    results = []
    for name, hidden, title in runs:
        result = train(name, hidden, train_data, val_data, args)
        plot.learning_curves(bp.History(**result["curves"]), out / f"{name}.png", title)
        (out / f"{name}.json").write_text(json.dumps(result))
        results.append(result)
    print("\nmodel                      final val error   s/epoch")
    for r in results:
        print(f"{r['name']:<26} {100 * r['final_val_error']:13.2f} %   "
              f"{r['seconds_per_epoch']:7.2f}")
    return results


if __name__ == "__main__":
    main()
