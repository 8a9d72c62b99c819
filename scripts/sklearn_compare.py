#!/usr/bin/env python
"""backprop.sklearn side by side with scikit-learn's own MLPClassifier / MLPRegressor.

Both libraries get identical parameters (scikit-learn's defaults, except fewer epochs
for MNIST), the same data, standardised on the training part, and the same train/test
split, for several seeds (``random_state`` = 0, 1, …). The table gives the test score —
accuracy (subset accuracy for multi-label) or R² — as mean ± standard deviation over the
seeds, the mean number of epochs run, and the median fit time. Each library runs in its
own process with the same number of BLAS/OpenMP threads (threadpoolctl), and the parent
alternates them fit by fit, so that a change of load on a shared machine hits both
alike. backprop trains in float32 (its default) unless ``--dtype`` says otherwise;
scikit-learn in float64 (the data's dtype).

    python scripts/sklearn_compare.py --threads 1 --markdown
    python scripts/sklearn_compare.py --datasets digits,mnist --seeds 3
    python scripts/sklearn_compare.py --device cuda        # adds backprop on the GPU
    python scripts/sklearn_compare.py --quick              # small subsets, seconds (tests)

MNIST is read from ``--data-dir`` (default: ``shared/data/mnist`` next to the
repository); without the files it is left out with a note.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MNIST_DIR = ROOT.parent / "shared" / "data" / "mnist"
DATASETS = ("digits", "breast_cancer", "iris", "diabetes", "multilabel", "mnist")
MNIST_EPOCHS = 20        # scikit-learn's 200 default epochs on 60,000 images take too long
QUICK_SAMPLES, QUICK_EPOCHS = 400, 10


# -- data ----------------------------------------------------------------------------------
def load(name, data_dir, quick):
    """``(X_train, X_test, y_train, y_test, task, params)`` for data set ``name``."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    params = {}
    if name == "mnist":
        import backprop as bp

        (X, y), (X_test, y_test) = bp.datasets.mnist(data_dir=data_dir, download=False)
        X, X_test = X.astype(np.float64), X_test.astype(np.float64)
        params["max_iter"] = MNIST_EPOCHS
        task = "classification"
    else:
        task = "regression" if name == "diabetes" else "classification"
        if name == "multilabel":
            X, y = datasets.make_multilabel_classification(
                n_samples=2000, n_features=20, n_classes=5, random_state=0)
        else:
            X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
        stratify = y if name != "multilabel" and task == "classification" else None
        X, X_test, y, y_test = train_test_split(X, y, test_size=0.25, random_state=0,
                                                stratify=stratify)
        scaler = StandardScaler().fit(X)
        X, X_test = scaler.transform(X), scaler.transform(X_test)
        if task == "regression":
            mean, std = y.mean(), y.std()
            y, y_test = (y - mean) / std, (y_test - mean) / std
    if quick:
        X, y, X_test, y_test = X[:QUICK_SAMPLES], y[:QUICK_SAMPLES], X_test[:200], y_test[:200]
        params["max_iter"] = QUICK_EPOCHS
    return X, X_test, y, y_test, task, params


# -- workers (one process per library) --------------------------------------------------
def worker(args):
    """Answer fit requests from the parent, one JSON line each, with the given threads."""
    import warnings

    from threadpoolctl import threadpool_limits

    if args.worker == "sklearn":
        from sklearn.neural_network import MLPClassifier, MLPRegressor
        extra = {}
    else:
        from backprop.sklearn import MLPClassifier, MLPRegressor
        extra = {"device": args.worker.removeprefix("backprop-"), "dtype": args.dtype}
    warnings.simplefilter("ignore")          # ConvergenceWarning after max_iter epochs
    cache = {}
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        if job["dataset"] not in cache:
            cache[job["dataset"]] = load(job["dataset"], args.data_dir, args.quick)
        X, X_test, y, y_test, task, params = cache[job["dataset"]]
        cls = MLPClassifier if task == "classification" else MLPRegressor
        est = cls(random_state=job["seed"], **params, **extra)
        with threadpool_limits(args.threads):
            start = time.perf_counter()
            est.fit(X, y)
            elapsed = time.perf_counter() - start
            score = est.score(X_test, y_test)
        print(json.dumps({"score": float(score), "time": elapsed, "epochs": int(est.n_iter_)}),
              flush=True)


class Worker:
    """The parent's handle on a worker process."""

    def __init__(self, lib, args):
        env = dict(os.environ, **{var: str(args.threads) for var in
                                  ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
        command = [sys.executable, __file__, "--worker", lib, "--threads", str(args.threads),
                   "--dtype", args.dtype, "--data-dir", str(args.data_dir)]
        self.lib = lib
        self.proc = subprocess.Popen(command + (["--quick"] if args.quick else []), env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.receive()

    def receive(self):
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"sklearn_compare: the {self.lib} worker failed (see its stderr)")
        return json.loads(line)

    def fit(self, dataset, seed):
        self.proc.stdin.write(json.dumps({"dataset": dataset, "seed": seed}) + "\n")
        self.proc.stdin.flush()
        return self.receive()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


# -- report ----------------------------------------------------------------------------------
def summary(runs):
    scores = [r["score"] for r in runs]
    spread = statistics.stdev(scores) if len(scores) > 1 else 0.0
    return (f"{statistics.mean(scores):.3f} ± {spread:.3f}",
            f"{statistics.mean(r['epochs'] for r in runs):.0f}",
            statistics.median(r["time"] for r in runs))


def table(results, libs, shapes, markdown):
    names = {"sklearn": "scikit-learn", "backprop-cpu": "backprop",
             "backprop-cuda": "backprop (GPU)"}
    header = ["data set", "train × features", "metric"]
    for lib in libs:
        header += [names[lib], "epochs", "fit (s)"]
    header += ["backprop/scikit-learn time"]
    rows = []
    for dataset, by_lib in results.items():
        row = [dataset, shapes[dataset][0], shapes[dataset][1]]
        for lib in libs:
            score, epochs, fit_time = summary(by_lib[lib])
            row += [score, epochs, f"{fit_time:.3g}"]
        ratio = summary(by_lib["backprop-cpu"])[2] / summary(by_lib["sklearn"])[2]
        rows.append(row + [f"{ratio:.2f}"])
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths))
                     for r in [header, *rows])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS),
                        help=f"comma-separated subset of {','.join(DATASETS)}")
    parser.add_argument("--seeds", type=int, default=5, help="random_state 0..N-1 (5)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="BLAS/OpenMP threads of each library (all cores)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="cuda: also backprop on the GPU (needs CuPy)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                        help="backprop's dtype (float32)")
    parser.add_argument("--data-dir", type=Path, default=MNIST_DIR, help="MNIST's IDX files")
    parser.add_argument("--quick", action="store_true",
                        help=f"first {QUICK_SAMPLES} training samples, {QUICK_EPOCHS} epochs")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    chosen = [d for d in args.datasets.split(",") if d]
    unknown = set(chosen) - set(DATASETS)
    if unknown or not chosen:
        parser.error(f"--datasets: choose from {', '.join(DATASETS)}; got {args.datasets!r}")
    if args.seeds < 1 or args.threads < 1:
        parser.error("--seeds and --threads must be at least 1")
    notes = []
    if "mnist" in chosen and not (args.data_dir / "train-images-idx3-ubyte.gz").exists():
        chosen.remove("mnist")
        notes.append(f"note: MNIST left out: no IDX files in {args.data_dir}")
    libs = ["backprop-cpu", "sklearn"] + (["backprop-cuda"] if args.device == "cuda" else [])
    workers = {lib: Worker(lib, args) for lib in libs}
    results, shapes = {}, {}
    try:
        for dataset in chosen:
            X, _, y, _, task, params = load(dataset, args.data_dir, args.quick)
            shapes[dataset] = (f"{X.shape[0]} × {X.shape[1]}",
                               "R²" if task == "regression" else "accuracy")
            results[dataset] = {lib: [] for lib in libs}
            for seed in range(args.seeds):
                for lib in libs:            # alternate: load changes hit every library alike
                    results[dataset][lib].append(workers[lib].fit(dataset, seed))
    finally:
        for w in workers.values():
            w.close()
    import sklearn

    import backprop

    print(f"$ python scripts/sklearn_compare.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical cores; "
          f"threads per library: {args.threads}; seeds: {args.seeds}; backprop dtype: "
          f"{args.dtype}; python {platform.python_version()}, numpy {np.__version__}, "
          f"scikit-learn {sklearn.__version__}, backprop {backprop.__version__}")
    print(f"parameters: scikit-learn's defaults (adam, hidden_layer_sizes=(100,), max_iter=200)"
          f"{'' if args.quick else f'; MNIST: max_iter={MNIST_EPOCHS}'}"
          f"{f'; --quick: max_iter={QUICK_EPOCHS}, first {QUICK_SAMPLES} samples' if args.quick else ''}")
    for note in notes:
        print(note)
    print()
    print(table(results, libs, shapes, args.markdown))


if __name__ == "__main__":
    main()
