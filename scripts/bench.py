#!/usr/bin/env python
"""Benchmark backprop against PyTorch eager, scikit-learn and the matrix-product floor.

One command times, in one run and on the same data, the workloads of issue 5:

* ``mnist``: seed 001's network 784-200-10 (ReLU, softmax cross-entropy), SGD γ = 0.5,
  mini-batch 100, 60,000 samples: seconds per epoch;
* ``deep``: 784-1024-1024-10, mini-batch 256, SGD γ = 0.1: seconds per epoch;
* ``full-batch``: 784-200-10 full-batch gradient descent (one step per epoch);
* ``inference``: 784-200-10 predictions for the 60,000 samples (one call).

Training times are the median of several epochs after a warm-up epoch. Every library
runs each workload in a fresh subprocess of its own, with the same thread count and
dtype, and **alone**: the parent starts one worker at a time and waits for it to exit,
so no idle thread pool of another library spins on the cores while one is timed (the
peak memory, the process's maximum resident set size, is also the workload's own).
The parent repeats this in ``--rounds`` rounds, one library after the other, and
reports the median of the rounds (and their spread), so that a change of load on a
shared machine affects every library alike.
The ``floor`` column is the time of the matrix products alone, timed at their own
shapes with the same BLAS (forward, dW and dQ, no input gradient for the first layer);
``ideal`` is the FLOP count divided by the GEMM rate of a large square product.
Real MNIST is used when ``../shared/data/mnist`` (next to the repository) holds it,
random data of MNIST's shape otherwise.

    python scripts/bench.py                 # CPU, all cores
    python scripts/bench.py --threads 1     # CPU, one thread
    python scripts/bench.py --device cuda   # GPU: backprop on CuPy vs PyTorch CUDA
    python scripts/bench.py --quick         # tiny sizes, a few seconds (used by the tests)
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist"
LIBS = ("backprop", "torch", "sklearn", "floor")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


# -- workloads ----------------------------------------------------------------------------
def workloads(quick, only=None):
    """name → (layer sizes, mini-batch size or None for full batch, γ, timed epochs)."""
    every = _workloads(quick)
    return {name: w for name, w in every.items() if not only or name in only.split(",")}


def _workloads(quick):
    if quick:
        return {"mnist": ([64, 32, 10], 50, 0.5, 2), "deep": ([64, 48, 48, 10], 64, 0.1, 2),
                "full-batch": ([64, 32, 10], None, 0.5, 2), "inference": ([64, 32, 10], None, 0, 3)}
    return {"mnist": ([784, 200, 10], 100, 0.5, 5), "deep": ([784, 1024, 1024, 10], 256, 0.1, 2),
            "full-batch": ([784, 200, 10], None, 0.5, 5),
            "inference": ([784, 200, 10], None, 0, 5)}


def read_idx(path):
    """An IDX file (gzip) as a NumPy array: big-endian header, then uint8 data."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_data(quick, n_in, seed=0):
    """(X float32 in [0, 1], y int64, description): MNIST's training set or random data."""
    if not quick and (MNIST / "train-images-idx3-ubyte.gz").exists():
        X = read_idx(MNIST / "train-images-idx3-ubyte.gz").reshape(60000, 784).astype(np.float32)
        X /= 255
        y = read_idx(MNIST / "train-labels-idx1-ubyte.gz").astype(np.int64)
        return X, y, "MNIST training set (60,000 images)"
    n = 1000 if quick else 60000
    rng = np.random.default_rng(seed)
    return (rng.random((n, n_in), dtype=np.float32), rng.integers(0, 10, n),
            f"random data ({n:,} × {n_in})")


def flops(sizes, n):
    """FLOPs of forward + backward for n samples: Z = QWᵀ, dW = dZᵀQ, dQ = dZW (not l = 1)."""
    per_layer = [2 * n * a * b for a, b in zip(sizes, sizes[1:])]
    return 2 * sum(per_layer) + sum(per_layer[1:])


def forward_flops(sizes, n):
    return sum(2 * n * a * b for a, b in zip(sizes, sizes[1:]))


def batch_sizes(n, batch):
    batch = n if batch is None else batch
    return [min(batch, n - start) for start in range(0, n, batch)]


# -- workers (each runs one library's workload alone in its own process) ------------------
class Sync:
    """Waits for the device: a no-op on the CPU, a stream synchronisation on a GPU."""

    def __init__(self, lib, device):
        self.fn = lambda: None
        if device == "cuda" and lib == "torch":
            import torch

            self.fn = torch.cuda.synchronize
        elif device == "cuda":
            import cupy

            self.fn = lambda: cupy.cuda.Device().synchronize()

    def __call__(self):
        self.fn()


def timed(fn, repeats, sync):
    """The median time of ``repeats`` calls of ``fn`` (after ``sync``)."""
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class EpochTimes:
    """A `fit` callback: the time between consecutive epoch ends. `fit` reads the epoch's
    learning curves back at each epoch end, so on a GPU the time includes all its work."""

    def __init__(self):
        self.ends = [time.perf_counter()]

    def on_epoch_end(self, epoch, history, net):
        self.ends.append(time.perf_counter())

    def median(self):
        """The median epoch time, the first (warm-up) epoch left out."""
        return statistics.median(b - a for a, b in zip(self.ends[1:], self.ends[2:]))


def run_backprop(args, name, X, y):
    import backprop as bp
    from backprop.ops import Ops

    sizes, batch, lr, epochs = workloads(args.quick)[name]
    device = "cuda" if args.device == "cuda" else "cpu"
    net = bp.Sequential([bp.Dense(a, b, "relu") for a, b in zip(sizes[:-2], sizes[1:-1])]
                        + [bp.Dense(sizes[-2], sizes[-1], "softmax")], device=device)
    if args.reference:                     # the array-API operations on NumPy: "before"
        net.ops = Ops(net.backend)
    Xd = net.backend.asarray(X, name="X")                 # moved to the device once
    if name == "inference":
        net.predict(Xd)
        return timed(lambda: net.predict(Xd), epochs, Sync("backprop", args.device))
    clock = EpochTimes()
    bp.fit(net, "cross_entropy", bp.SGD(lr), Xd, net.backend.asarray(y, name="y"),
           epochs=1 + epochs, batch_size=batch, callbacks=[clock])
    return clock.median()


def run_torch(args, name, X, y):
    import torch

    torch.set_num_threads(args.threads)
    sizes, batch, lr, epochs = workloads(args.quick)[name]
    device = "cuda" if args.device == "cuda" else "cpu"
    sync = Sync("torch", args.device)
    Xt, yt = torch.from_numpy(X).to(device), torch.from_numpy(y).to(device)
    gen = torch.Generator(device="cpu").manual_seed(0)
    torch.manual_seed(0)
    modules = []
    for a, b in zip(sizes, sizes[1:]):
        modules += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    model = torch.nn.Sequential(*modules[:-1]).to(device)
    if name == "inference":
        def infer():
            with torch.inference_mode():
                return model(Xt)
        infer()
        return timed(infer, epochs, sync)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    criterion = torch.nn.CrossEntropyLoss()
    n = Xt.shape[0]
    n_b = n if batch is None else batch

    def epoch():
        perm = torch.randperm(n, generator=gen).to(device) if n_b < n else None
        costs, errors = [], []          # kept on the device, like backprop's history
        for start in range(0, n, n_b):
            idx = perm[start:start + n_b] if perm is not None else slice(None)
            Xb, yb = Xt[idx], yt[idx]
            opt.zero_grad(set_to_none=True)
            out = model(Xb)
            loss = criterion(out, yb)
            loss.backward()
            opt.step()
            costs.append(loss.detach())
            errors.append((out.detach().argmax(1) != yb).float().mean())
        return torch.stack(costs).tolist(), torch.stack(errors).tolist()

    epoch()
    return timed(epoch, epochs, sync)


def run_sklearn(args, name, X, y):
    if args.device == "cuda":
        raise ImportError("scikit-learn has no GPU path")
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    warnings.simplefilter("ignore", ConvergenceWarning)
    sizes, batch, lr, epochs = workloads(args.quick)[name]
    clf = MLPClassifier(hidden_layer_sizes=tuple(sizes[1:-1]), activation="relu",
                        solver="sgd", learning_rate_init=lr or 0.1, momentum=0.0, alpha=0.0,
                        batch_size=batch or X.shape[0], random_state=0)
    clf.partial_fit(X, y, classes=np.unique(y))             # warm-up epoch
    assert clf.coefs_[0].dtype == np.float32, "scikit-learn did not train in float32"
    if name == "inference":
        return timed(lambda: clf.predict_proba(X), epochs, lambda: None)
    return timed(lambda: clf.partial_fit(X, y), epochs, lambda: None)


def run_floor(args, name, X, y):
    """The products of an epoch at their own shapes, weights stored both ways (the faster)."""
    if args.device == "cuda":
        import cupy as xp
    else:
        xp = np
    sync = Sync("floor", args.device)
    rng = np.random.default_rng(0)
    sizes, batch, _, epochs = workloads(args.quick)[name]
    shapes = batch_sizes(X.shape[0], None if name == "inference" else batch)

    def array(shape, order="C"):
        return xp.asarray(rng.standard_normal(shape, dtype=np.float32), order=order)

    def products(order):
        Ws = [array((b, a), order) for a, b in zip(sizes, sizes[1:])]
        dWs = [xp.empty_like(W) for W in Ws]
        Qs = {m: [array((m, a)) for a in sizes] for m in set(shapes)}

        def epoch():
            for m in shapes:
                Q = Qs[m]
                for l, W in enumerate(Ws):
                    xp.matmul(Q[l], W.T, out=Q[l + 1])
                if name == "inference":
                    continue
                for l in range(len(Ws) - 1, -1, -1):
                    W, dZ = Ws[l], Q[l + 1]
                    if order == "C":
                        xp.matmul(dZ.T, Q[l], out=dWs[l])
                    else:
                        xp.matmul(Q[l].T, dZ, out=dWs[l].T)
                    if l:
                        xp.matmul(dZ, W, out=Q[l])
        epoch()
        return epoch

    return min(timed(products(order), epochs, sync) for order in ("C", "F"))


def gemm_rate(args):
    """GFLOP/s of a large square float32 product (best of 5), for the ``ideal`` column."""
    xp = __import__("cupy") if args.device == "cuda" else np
    size = 256 if args.quick else (8192 if args.device == "cuda" else 2048)
    A = xp.asarray(np.random.default_rng(0).standard_normal((size, size), dtype=np.float32))
    sync = Sync("floor", args.device)
    A @ A
    return 2 * size ** 3 / min(timed(lambda: A @ A, 1, sync) for _ in range(5)) / 1e9


RUNNERS = {"backprop": run_backprop, "torch": run_torch, "sklearn": run_sklearn,
           "floor": run_floor}


def worker(args):
    """Run one library's workload in this process and print its result as one JSON line."""
    from threadpoolctl import threadpool_info, threadpool_limits

    X, y, source = load_data(args.quick, _workloads(args.quick)["mnist"][0][0])
    with threadpool_limits(args.threads):
        try:
            if args.worker == "gemm":
                result = {"gflops": gemm_rate(args)}
            else:
                result = {"t": RUNNERS[args.worker](args, args.workload, X, y)}
        except ImportError as exc:
            result = {"skipped": f"{type(exc).__name__}: {exc}"}
        pools = [f"{p['internal_api']} {p.get('version')} ({p.get('architecture', '-')}, "
                 f"{p['num_threads']} threads)" for p in threadpool_info()]
    result.update(peak_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  source=source, pools=pools, n=int(X.shape[0]))
    print(json.dumps(result), flush=True)


# -- parent: run the workers one at a time, print the report -------------------------------
def run_worker(args, lib, workload=None):
    """Start one worker, wait for it to exit, return its result (nothing else runs)."""
    env = dict(os.environ, **{var: str(args.threads) for var in THREAD_VARS})
    root = args.backprop_root if lib == "backprop" and args.backprop_root else ROOT
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    cmd = [sys.executable, __file__, "--worker", lib, "--threads", str(args.threads),
           "--device", args.device] + (["--workload", workload] if workload else []) + \
        (["--quick"] if args.quick else []) + (["--reference"] if args.reference else [])
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise SystemExit(f"bench worker {lib} {workload or ''} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_all(args, libs):
    """{lib: {workload: [seconds per round], "peak_mib": …, …}} and the GEMM rate.

    Round after round, each library runs each workload alone in a fresh process.
    """
    results = {lib: {} for lib in libs}
    for _ in range(args.rounds):
        for name in workloads(args.quick, args.only):
            for lib in libs:
                r = results[lib]
                if "skipped" in r:
                    continue
                out = run_worker(args, lib, name)
                if "skipped" in out:
                    r["skipped"] = out["skipped"]
                    continue
                r.setdefault(name, []).append(out["t"])
                r["peak_mib"] = max(r.get("peak_mib", 0), out["peak_mib"])
                r.update(source=out["source"], pools=out["pools"], n=out["n"])
    return results, run_worker(args, "gemm")["gflops"]


def versions():
    out = [f"python {platform.python_version()}", f"numpy {np.__version__}"]
    for module in ("torch", "sklearn", "scipy", "cupy"):
        try:
            out.append(f"{module} {__import__(module).__version__}")
        except ImportError:
            pass
    return ", ".join(out)


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def fmt(value, digits=3):
    return "—" if value is None else f"{value:.{digits}g}"


def median(values):
    return statistics.median(values) if values else None


def spread(values):
    """min–max over the rounds, as a relative half-width (± %), or '' for one round."""
    if not values or len(values) < 2:
        return ""
    return f" ±{50 * (max(values) - min(values)) / statistics.median(values):.0f}%"


def report(args, res, gflops, load):
    sizes = workloads(args.quick, args.only)
    bp_res, floor = res["backprop"], res["floor"]
    torch_res, sk_res = res.get("torch", {}), res.get("sklearn", {})
    n = bp_res["n"]
    lines = [
        f"device: {args.device}; CPU: {cpu_model()}, {os.cpu_count()} logical cores; "
        f"threads: {args.threads}; dtype float32"
        + ("; backprop: array-API reference operations (--reference)" if args.reference else ""),
        f"versions: {versions()}"
        + (f"; backprop from {args.backprop_root}" if args.backprop_root else ""),
        f"BLAS (backprop worker): {'; '.join(bp_res['pools'])}",
        f"data: {bp_res['source']}; load average at start/end: {load[0]:.2f} / {load[1]:.2f}",
        f"each library ran each workload alone in its own process; {args.rounds} round(s), "
        f"median of the rounds (± half the min–max spread)",
        f"GEMM rate (large square sgemm, best of 5): {gflops:.1f} GFLOP/s",
    ]
    if args.device == "cuda":
        import cupy

        name = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"]
        lines.append(f"GPU: {name.decode() if isinstance(name, bytes) else name}, "
                     f"CuPy {cupy.__version__}")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            lines.append(f"note: {var}={os.environ[var]} is set (it can slow OpenBLAS)")
    for lib, r in res.items():
        if isinstance(r, dict) and "skipped" in r:
            lines.append(f"note: {lib} skipped ({r['skipped']})")
    lines += ["", "| workload | backprop | PyTorch | scikit-learn | floor | ideal | GFLOP "
              "| backprop/PyTorch | backprop/floor |", "|---|---|---|---|---|---|---|---|---|"]
    for name, (layers, batch, _, _) in sizes.items():
        infer = name == "inference"
        work = forward_flops(layers, n) if infer else flops(layers, n)
        ideal = work / (gflops * 1e9)
        b, t, s, f = (median(r.get(name)) for r in (bp_res, torch_res, sk_res, floor))
        label = f"{name} {'-'.join(map(str, layers))}" + (f" b{batch}" if batch else "")
        unit = "s" if infer else "s/epoch"
        cells = [fmt(v) + spread(r.get(name)) for v, r in
                 ((b, bp_res), (t, torch_res), (s, sk_res), (f, floor))]
        lines.append(
            f"| {label} ({unit}) | {' | '.join(cells)} | {fmt(ideal)} "
            f"| {work / 1e9:.1f} | {fmt(b / t if t else None)} | {fmt(b / f if f else None)} |")
    throughput = [n / median(r["inference"]) / 1e6 if r.get("inference") else None
                  for r in (bp_res, torch_res, sk_res)]
    lines.append(f"| inference (M samples/s) | {fmt(throughput[0])} | {fmt(throughput[1])} "
                 f"| {fmt(throughput[2])} | | | | | |")
    peaks = [r.get("peak_mib") if "skipped" not in r else None
             for r in (bp_res, torch_res, sk_res, floor)]
    peaks = ["—" if v is None else f"{v:.0f}" for v in peaks]
    lines.append(f"| peak memory (MiB, whole process) | {' | '.join(peaks)} | | | | |")
    if sk_res and "skipped" not in sk_res:
        lines.append("\nscikit-learn trained in float32.")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds)")
    parser.add_argument("--libs", default=",".join(LIBS),
                        help=f"comma-separated subset of {','.join(LIBS)} (backprop and "
                             "floor are always run)")
    parser.add_argument("--only", help="comma-separated subset of the workloads "
                                           "(mnist,deep,full-batch,inference)")
    parser.add_argument("--reference", action="store_true",
                        help="time backprop with the array-API reference operations on NumPy")
    parser.add_argument("--backprop-root", type=Path,
                        help="time the backprop package of another checkout (e.g. the code "
                             "before a change) instead of this one")
    parser.add_argument("--rounds", type=int, help="rounds of isolated runs (default 2; "
                                                    "--quick: 1)")
    parser.add_argument("--worker", choices=LIBS + ("gemm",), help=argparse.SUPPRESS)
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    args.rounds = args.rounds or (1 if args.quick else 2)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    unknown = set((args.only or "").split(",")) - set(_workloads(False)) - {""}
    if unknown:
        parser.error(f"--only: unknown workload(s) {', '.join(sorted(unknown))}")
    if args.worker:
        return worker(args)
    if args.device == "cuda":
        try:
            import cupy

            cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:            # ImportError or CUDARuntimeError
            parser.error(f"--device cuda needs CuPy and a CUDA GPU ({type(exc).__name__}: {exc})")
    libs = ["backprop", "floor"] + [lib for lib in args.libs.split(",")
                                    if lib in ("torch", "sklearn")]
    load = [os.getloadavg()[0]]
    results, gflops = run_all(args, libs)
    load.append(os.getloadavg()[0])
    print(f"$ python scripts/bench.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    print(report(args, results, gflops, load))


if __name__ == "__main__":
    main()
