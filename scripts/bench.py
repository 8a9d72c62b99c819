#!/usr/bin/env python
"""Benchmark backprop against PyTorch eager, scikit-learn and the matrix-product floor.

One command times, in one run and on the same data, the workloads of issue 5:

* ``mnist``: seed 001's network 784-200-10 (ReLU, softmax cross-entropy), SGD γ = 0.5,
  mini-batch 100, 60,000 samples: seconds per epoch;
* ``deep``: 784-1024-1024-10, mini-batch 256, SGD γ = 0.1: seconds per epoch;
* ``full-batch``: 784-200-10 full-batch gradient descent (one step per epoch);
* ``inference``: 784-200-10 predictions for the 60,000 samples (one call).

Training times are the median of several epochs after a warm-up epoch. Every library
runs in its own subprocess (so thread pools do not compete and the peak memory, the
process's maximum resident set size, is its own) with the same thread count and dtype,
and the parent alternates them epoch by epoch, so that a change of load on a shared
machine affects all of them alike (see `Channel`).
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
import tempfile
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


# -- workers (each runs in its own process) ------------------------------------------------
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


class Channel:
    """The worker's side of the round-robin protocol with the parent process.

    Before each timed unit (an epoch, an inference pass) a worker waits for a ``go``
    line on stdin and answers with the unit's time, so the parent can alternate the
    libraries unit by unit: a change of load on a shared machine then hits all of
    them alike. Messages are JSON lines on stdout.
    """

    # After a unit, a BLAS thread pool keeps its threads spinning for a while (OpenBLAS:
    # about 0.1 s) and would steal cores from the next library's unit: let them settle.
    SETTLE = 0.25

    def __init__(self, threads):
        self.settle = self.SETTLE if threads > 1 else 0.0

    def send(self, **message):
        if "t" in message and self.settle:
            time.sleep(self.settle)
        print(json.dumps(message), flush=True)

    def go(self):
        if sys.stdin.readline().strip() != "go":
            raise SystemExit("bench worker: the parent went away")

    def timed(self, fn, repeats, sync):
        """Time ``fn`` once per ``go``; return the median."""
        times = []
        for _ in range(repeats):
            self.go()
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - start)
            self.send(t=times[-1])
        return statistics.median(times)


def run_backprop(args, X, y, channel):
    import backprop as bp
    from backprop import train
    from backprop.device import fastpath

    channel.send(ready=True)
    if args.reference:                     # the array-API path on NumPy: "before" figures
        fastpath.training_step = fastpath.ReferenceStep
        fastpath.predict = lambda net, X: net.forward(X)[0][-1]
    device = "cuda" if args.device == "cuda" else "cpu"
    record, times, state = train._record, [], {}

    def timed_record(*a):       # fit reads each epoch's history back here (a device sync)
        record(*a)
        if "start" in state:
            times.append(time.perf_counter() - state["start"])
            channel.send(t=times[-1])
        if state["left"]:
            state["left"] -= 1
            channel.go()
            state["start"] = time.perf_counter()

    train._record = timed_record
    results = {}
    for name, (sizes, batch, lr, epochs) in workloads(args.quick, args.only).items():
        net = bp.Sequential([bp.Dense(a, b, "relu") for a, b in zip(sizes[:-2], sizes[1:-1])]
                            + [bp.Dense(sizes[-2], sizes[-1], "softmax")], device=device)
        Xd = net.backend.asarray(X, name="X")             # moved to the device once
        yd = net.backend.asarray(y, name="y")
        if name == "inference":
            net.predict(Xd)
            results[name] = channel.timed(lambda: net.predict(Xd), epochs,
                                          Sync("backprop", args.device))
            continue
        times.clear()
        state.clear()
        state["left"] = epochs                            # the first epoch is the warm-up
        bp.fit(net, "cross_entropy", bp.SGD(lr), Xd, yd, epochs=1 + epochs, batch_size=batch)
        results[name] = statistics.median(times)
    train._record = record
    return results


def run_torch(args, X, y, channel):
    import torch

    channel.send(ready=True)
    torch.set_num_threads(args.threads)
    device = "cuda" if args.device == "cuda" else "cpu"
    sync = Sync("torch", args.device)
    Xt, yt = torch.from_numpy(X).to(device), torch.from_numpy(y).to(device)
    gen = torch.Generator(device="cpu").manual_seed(0)
    results = {}
    for name, (sizes, batch, lr, epochs) in workloads(args.quick, args.only).items():
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
            results[name] = channel.timed(infer, epochs, sync)
            continue
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
        results[name] = channel.timed(epoch, epochs, sync)
    return results


def run_sklearn(args, X, y, channel):
    if args.device == "cuda":
        raise ImportError("scikit-learn has no GPU path")
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    channel.send(ready=True)
    warnings.simplefilter("ignore", ConvergenceWarning)
    classes = np.unique(y)
    results = {}
    for name, (sizes, batch, lr, epochs) in workloads(args.quick, args.only).items():
        clf = MLPClassifier(hidden_layer_sizes=tuple(sizes[1:-1]), activation="relu",
                            solver="sgd", learning_rate_init=lr or 0.1, momentum=0.0, alpha=0.0,
                            batch_size=batch or X.shape[0], random_state=0)
        clf.partial_fit(X, y, classes=classes)               # warm-up epoch
        if name == "inference":
            results[name] = channel.timed(lambda: clf.predict_proba(X), epochs, lambda: None)
            continue
        results[name] = channel.timed(lambda: clf.partial_fit(X, y), epochs, lambda: None)
        results["dtype"] = str(clf.coefs_[0].dtype)
    return results


def run_floor(args, X, y, channel):
    """The products of an epoch at their own shapes, weights stored both ways (the faster)."""
    if args.device == "cuda":
        import cupy as xp
    else:
        xp = np
    channel.send(ready=True)
    sync = Sync("floor", args.device)
    rng = np.random.default_rng(0)

    def array(shape, order="C"):
        return xp.asarray(rng.standard_normal(shape, dtype=np.float32), order=order)

    def seconds(fn):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        return time.perf_counter() - start

    def products(name, shapes, order, sizes):
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

    results = {}
    n = X.shape[0]
    for name, (sizes, batch, lr, epochs) in workloads(args.quick, args.only).items():
        shapes = batch_sizes(n, None if name == "inference" else batch)
        layouts = [products(name, shapes, order, sizes) for order in ("C", "F")]
        times = []
        for _ in range(epochs):             # one unit: both weight layouts, the faster counts
            channel.go()
            times.append(min(seconds(epoch) for epoch in layouts))
            channel.send(t=times[-1])
        results[name] = statistics.median(times)
    size = 256 if args.quick else (8192 if args.device == "cuda" else 2048)
    A, B = array((size, size)), array((size, size))
    A @ B
    results["gflops"] = 2 * size ** 3 / min(seconds(lambda: A @ B) for _ in range(5)) / 1e9
    return results


RUNNERS = {"backprop": run_backprop, "torch": run_torch, "sklearn": run_sklearn,
           "floor": run_floor}


def worker(args):
    """Run one library's workloads in this process, driven by the parent (see `Channel`)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    X, y, source = load_data(args.quick, _workloads(args.quick)["mnist"][0][0])
    channel = Channel(args.threads)
    with threadpool_limits(args.threads):
        try:
            results = RUNNERS[args.worker](args, X, y, channel)
        except ImportError as exc:
            return channel.send(skipped=f"{type(exc).__name__}: {exc}")
        pools = [f"{p['internal_api']} {p.get('version')} ({p.get('architecture', '-')}, "
                 f"{p['num_threads']} threads)" for p in threadpool_info()]
    results.update(peak_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                   source=source, pools=pools, n=int(X.shape[0]))
    channel.send(results=results)


# -- parent: drive the workers, print the report -------------------------------------------
class Worker:
    """A library's worker process, spoken to line by line."""

    def __init__(self, lib, args):
        env = dict(os.environ, **{var: str(args.threads) for var in THREAD_VARS})
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        cmd = [sys.executable, __file__, "--worker", lib, "--threads", str(args.threads),
               "--device", args.device] + (["--quick"] if args.quick else []) + \
            (["--reference"] if args.reference else []) + \
            (["--only", args.only] if args.only else [])
        self.lib, self.stderr = lib, tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True)

    def receive(self):
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            self.stderr.seek(0)
            raise SystemExit(f"bench worker {self.lib} failed:\n{self.stderr.read()}")
        return json.loads(line)

    def unit(self):
        """Let the worker run its next timed unit; return the unit's seconds."""
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        return self.receive()["t"]


def run_all(args, libs):
    """Start every library's worker, then alternate them unit by unit; collect results."""
    workers = [Worker(lib, args) for lib in libs]
    results = {}
    for w in list(workers):
        first = w.receive()
        if "skipped" in first:
            results[w.lib] = first
            workers.remove(w)
    for name, (_, _, _, units) in workloads(args.quick, args.only).items():
        for _ in range(units):
            for w in workers:
                w.unit()
    for w in workers:
        results[w.lib] = w.receive()["results"]
        w.proc.wait()
    return results


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


def report(args, res):
    sizes = workloads(args.quick, args.only)
    bp_res, floor = res["backprop"], res["floor"]
    torch_res, sk_res = res.get("torch", {}), res.get("sklearn", {})
    n = bp_res["n"]
    lines = [
        f"device: {args.device}; CPU: {cpu_model()}, {os.cpu_count()} logical cores; "
        f"threads: {args.threads}; dtype float32"
        + ("; backprop: array-API reference path (--reference)" if args.reference else ""),
        f"versions: {versions()}",
        f"BLAS (backprop worker): {'; '.join(bp_res['pools'])}",
        f"data: {bp_res['source']}; load average at start/end: {res['load'][0]} / {res['load'][1]}",
        f"GEMM rate (large square sgemm, best of 5): {floor['gflops']:.1f} GFLOP/s",
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
        ideal = work / (floor["gflops"] * 1e9)
        b, t, s, f = bp_res.get(name), torch_res.get(name), sk_res.get(name), floor.get(name)
        label = f"{name} {'-'.join(map(str, layers))}" + (f" b{batch}" if batch else "")
        unit = "s" if infer else "s/epoch"
        lines.append(
            f"| {label} ({unit}) | {fmt(b)} | {fmt(t)} | {fmt(s)} | {fmt(f)} | {fmt(ideal)} "
            f"| {work / 1e9:.1f} | {fmt(b / t if t else None)} | {fmt(b / f if f else None)} |")
    throughput = [n / r["inference"] / 1e6 if r.get("inference") else None
                  for r in (bp_res, torch_res, sk_res)]
    lines.append(f"| inference (M samples/s) | {fmt(throughput[0])} | {fmt(throughput[1])} "
                 f"| {fmt(throughput[2])} | | | | | |")
    peaks = [r.get("peak_mib") if "skipped" not in r else None
             for r in (bp_res, torch_res, sk_res, floor)]
    peaks = ["—" if v is None else f"{v:.0f}" for v in peaks]
    lines.append(f"| peak memory (MiB, whole process) | {' | '.join(peaks)} | | | | |")
    if sk_res.get("dtype"):
        lines.append(f"\nscikit-learn trained in {sk_res['dtype']}.")
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
                        help="time backprop's array-API reference path (NumPy fast path off)")
    parser.add_argument("--worker", choices=LIBS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("--threads must be at least 1")
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
    results = run_all(args, libs)
    load.append(os.getloadavg()[0])
    results["load"] = [f"{v:.2f}" for v in load]
    print(f"$ python scripts/bench.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    print(report(args, results))


if __name__ == "__main__":
    main()
