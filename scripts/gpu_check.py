#!/usr/bin/env python
"""The GPU check: everything that needs CuPy and a CUDA GPU, in one command.

On a machine with CuPy and a GPU (issue 9's "the GPU, for real") this runs, in well
under 8 minutes, and writes a Markdown report to ``--out``:

1. the environment (Python, NumPy, CuPy, PyTorch, the GPU);
2. the ``gpu``-marked tests (``pytest -m gpu``: every CuPy operation against the
   reference, the CuPy backend of the suite, the GPU benchmark's smoke test);
3. CuPy against NumPy: the same short training runs (SGD, momentum, Adam; float64 and
   float32) on both, parameters and learning curves compared;
4. seed 001's run on the GPU: 784-200-10, SGD γ = 0.5, n_b = 100, 15 epochs of MNIST,
   training seconds and validation error (goal: under 1 s of training);
5. ``scripts/bench.py --device cuda`` against PyTorch CUDA (goal: an MNIST epoch in
   ≤ 0.5× PyTorch's time).

    python scripts/gpu_check.py --data-dir DIR --out gpu_check.md

``--data-dir`` holds the four MNIST files (random data of MNIST's shape otherwise).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import backprop as bp  # noqa: E402
from backprop.device import to_host  # noqa: E402


class Report:
    """Markdown written as it goes (so a run cut short still leaves its findings)."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.write_text("# backprop GPU check\n\n", encoding="utf-8")

    def __call__(self, text=""):
        print(text, flush=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(text + "\n")


def environment(report):
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    versions = [f"Python {platform.python_version()}", f"NumPy {np.__version__}",
                f"CuPy {cupy.__version__}", f"CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}"]
    try:
        import torch

        versions.append(f"PyTorch {torch.__version__}")
    except ImportError:
        pass
    report("## 1. Environment\n")
    report(f"- GPU: {name} ({cupy.cuda.runtime.getDeviceCount()} visible)")
    report(f"- {', '.join(versions)}")
    report(f"- CUPY_TF32={os.environ.get('CUPY_TF32', 'unset')} (TF32 off unless set)\n")


def gpu_tests(report, timeout):
    report("## 2. `pytest -m gpu`\n")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p",
                           "no:cacheprovider", "-x", "--no-header", "-rfE"],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
    report(f"exit status {proc.returncode} in {time.perf_counter() - start:.0f} s\n")
    report("```text\n" + tail + "\n```\n")
    return proc.returncode == 0


def load(data_dir, n=None):
    if data_dir and Path(data_dir, "train-images-idx3-ubyte.gz").exists():
        (X, y), (Xv, yv) = bp.datasets.mnist(data_dir, download=False)
        source = "MNIST"
    else:
        rng = np.random.default_rng(0)
        X, y = rng.random((60000, 784), dtype=np.float32), rng.integers(0, 10, 60000)
        Xv, yv = rng.random((10000, 784), dtype=np.float32), rng.integers(0, 10, 10000)
        source = "random data of MNIST's shape"
    if n:
        X, y = X[:n], y[:n]
    return X, y, Xv, yv, source


def cupy_vs_numpy(report, data_dir):
    report("## 3. CuPy against NumPy (same θ₀, same shuffles)\n")
    X, y, Xv, yv, source = load(data_dir, n=3000)
    report(f"3,000 rows of {source}, 784-64-10 ReLU/softmax, n_b = 50, 2 epochs.\n")
    report("| optimizer | dtype | max relative difference of θ | of the costs | tolerance | ok |")
    report("|---|---|---|---|---|---|")
    optimizers = {"sgd": lambda: bp.SGD(0.2, weight_decay=1e-4),
                  "momentum": lambda: bp.SGD(0.05, momentum=0.9, nesterov=True),
                  "adam": lambda: bp.Adam(1e-3, weight_decay=1e-4)}
    ok = True
    for name, make in optimizers.items():
        for dtype, tol in (("float64", 1e-9), ("float32", 2e-3)):
            runs = []
            for device in ("cpu", "cuda"):
                net = bp.Sequential([bp.Dense(784, 64, "relu"), bp.Dense(64, 10)],
                                    device=device, dtype=dtype, seed=1)
                h = bp.fit(net, "cross_entropy", make(), X, y, epochs=2, batch_size=50,
                           validation_data=(Xv[:500], yv[:500]), eval_every=20, seed=2)
                runs.append((to_host(net.get_flat()).astype(np.float64), np.array(h.cost)))
            (t_cpu, c_cpu), (t_gpu, c_gpu) = runs
            d_theta = float(np.max(np.abs(t_gpu - t_cpu) / (np.abs(t_cpu) + 1e-3)))
            d_cost = float(np.max(np.abs(c_gpu - c_cpu) / np.abs(c_cpu)))
            passed = d_theta < tol and d_cost < tol
            ok &= passed
            report(f"| {name} | {dtype} | {d_theta:.2e} | {d_cost:.2e} | {tol:g} | "
                   f"{'yes' if passed else 'NO'} |")
    report("")
    return ok


def seed_run(report, data_dir):
    import cupy

    report("## 4. Seed 001's MNIST run on the GPU\n")
    X, y, Xv, yv, source = load(data_dir)
    results = []
    for attempt in range(2):            # the first run compiles CuPy's kernels
        net = bp.Sequential([bp.Dense(784, 200, "relu"), bp.Dense(200, 10)], device="cuda",
                            seed=0)
        Xd, yd = net.backend.asarray(X, name="X"), net.backend.asarray(y, name="y")
        cupy.cuda.Device().synchronize()
        start = time.perf_counter()
        bp.fit(net, "cross_entropy", bp.SGD(0.5), Xd, yd, epochs=15, batch_size=100, seed=0)
        cupy.cuda.Device().synchronize()
        seconds = time.perf_counter() - start
        error = float(np.mean(to_host(net.predict(Xv)).argmax(axis=1) != yv))
        results.append((seconds, error))
    report(f"{source}; 784-200-10, SGD γ = 0.5, n_b = 100, 15 epochs (9,000 steps), float32.\n")
    for attempt, (seconds, error) in enumerate(results, start=1):
        report(f"- run {attempt}: {seconds:.2f} s of training, validation error {error:.2%}")
    report(f"- goal: under 1 s of training: {'met' if results[-1][0] < 1 else 'NOT met'}\n")


def bench(report, timeout):
    report("## 5. `scripts/bench.py --device cuda --libs torch`\n")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.py"), "--device",
                           "cuda", "--libs", "torch", "--rounds", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    report("```text\n" + (proc.stdout or proc.stderr[-3000:]).strip() + "\n```\n")
    return proc.returncode == 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help="folder with the four MNIST files")
    parser.add_argument("--out", default="gpu_check.md", help="the report (Markdown)")
    parser.add_argument("--skip", default="", help="comma-separated steps to skip: "
                                                   "tests,equality,seed,bench")
    args = parser.parse_args(argv)
    try:
        import cupy

        cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:                # ImportError or CUDARuntimeError
        parser.error(f"needs CuPy and a CUDA GPU ({type(exc).__name__}: {exc})")
    report = Report(args.out)
    skip = set(args.skip.split(","))
    environment(report)
    results = {}
    if "tests" not in skip:
        results["tests"] = gpu_tests(report, timeout=200)
    if "equality" not in skip:
        results["equality"] = cupy_vs_numpy(report, args.data_dir)
    if "seed" not in skip:
        seed_run(report, args.data_dir)
    if "bench" not in skip:
        results["bench"] = bench(report, timeout=240)
    report("## Summary\n")
    for step, ok in results.items():
        report(f"- {step}: {'passed' if ok else 'FAILED'}")
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
