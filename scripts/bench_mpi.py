#!/usr/bin/env python
"""Data-parallel training over MPI: throughput of 1 process against P ranks.

For each workload the same training (float32, SGD, the same global mini-batch, seed
and rows) runs once in one process with one BLAS thread and once on ``--ranks`` MPI
ranks with one BLAS thread each (``mpiexec -n P``), each run alone. Reported, as a
Markdown table:

* samples/s over the timed epochs (after one warm-up epoch) and the speed-up;
* the time per step spent in the gradient's ``Allreduce`` during training (it
  includes waiting for the slower rank: the ranks hold different numbers of rows of
  each batch), and the time of the same ``Allreduce`` alone (after a barrier).

Workloads: ``mnist`` (784-200-10, n_b = 100, seed 001's network), ``deep``
(784-1024-1024-10, n_b = 256) and ``deep-b1024`` (the deep network with a 4× larger
global batch, which halves the share of the all-reduce per sample). Real MNIST is read
from ``--data-dir`` when it holds the four files, random data of its shape otherwise.

    python scripts/bench_mpi.py                       # 2 ranks, 200 timed steps each
    python scripts/bench_mpi.py --steps 50            # a short smoke run
    python scripts/bench_mpi.py --ranks 4 --workloads deep
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORKLOADS = {   # name: (layer sizes, global mini-batch size, learning rate)
    "mnist": ([784, 200, 10], 100, 0.5),
    "deep": ([784, 1024, 1024, 10], 256, 0.1),
    "deep-b1024": ([784, 1024, 1024, 10], 1024, 0.1),
}


class Timed:
    """An mpi4py communicator whose ``Allreduce`` calls are timed."""

    def __init__(self, comm):
        self.comm, self.seconds, self.calls = comm, 0.0, 0

    def Allreduce(self, *args, **kwargs):
        start = time.perf_counter()
        self.comm.Allreduce(*args, **kwargs)
        self.seconds += time.perf_counter() - start
        self.calls += 1

    def __getattr__(self, name):
        return getattr(self.comm, name)


class Clock:
    """A callback recording the time at the end of every epoch."""

    def __init__(self):
        self.times = [time.perf_counter()]

    def on_epoch_end(self, epoch, history, net):
        self.times.append(time.perf_counter())


def data(data_dir, n):
    """The first n rows of MNIST's training set (float32), or random data of its shape."""
    import backprop as bp

    try:
        (X, y), _ = bp.datasets.mnist(data_dir, download=False)
        source = "MNIST"
    except bp.BackpropError:
        rng = np.random.default_rng(0)
        X, y, source = rng.uniform(size=(n, 784)).astype(np.float32), \
            rng.integers(0, 10, n), "random data"
    reps = -(-n // X.shape[0])
    return np.concatenate([X] * reps)[:n], np.concatenate([y] * reps)[:n], source


def worker(args):
    """One run (one process, or every rank under mpiexec); rank 0 prints a JSON line."""
    import backprop as bp
    from backprop import distributed

    sizes, batch, lr = WORKLOADS[args.workload]
    n = args.steps * batch
    X, y, source = data(args.data_dir, n)
    comm = distributed.world() if args.mpi else None
    timed = None if comm is None else Timed(comm)
    rows = slice(0, n) if comm is None else slice(*distributed.local_rows(n, comm))
    layers = [bp.Dense(a, b, "relu") for a, b in zip(sizes[:-2], sizes[1:-1])]
    net = bp.Sequential(layers + [bp.Dense(sizes[-2], sizes[-1])], seed=0)
    clock = Clock()
    bp.fit(net, "cross_entropy", bp.SGD(lr), X[rows], y[rows], epochs=1 + args.epochs,
           batch_size=batch, seed=0, callbacks=[clock], comm=timed)
    steps = args.epochs * args.steps
    seconds = clock.times[-1] - clock.times[1]
    result = {"workload": args.workload, "processes": 1 if comm is None else comm.Get_size(),
              "samples_per_s": steps * batch / seconds, "step_ms": 1e3 * seconds / steps,
              "data": source, "params": net.n_params}
    if comm is not None:
        per_step = timed.seconds / timed.calls            # the warm-up epoch included
        buffer = np.zeros(net.n_params + 2, np.float32)
        alone = []
        for _ in range(20):
            comm.Barrier()
            start = time.perf_counter()
            comm.Allreduce(distributed.mpi().IN_PLACE, buffer)
            alone.append(time.perf_counter() - start)
        result.update(allreduce_ms=1e3 * per_step, allreduce_alone_ms=1e3 * float(np.median(alone)))
        if comm.Get_rank() != 0:
            return
    print(json.dumps(result), flush=True)


def run(args, workload, ranks):
    """A worker in a fresh process (under mpiexec for ranks > 1), one BLAS thread each."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    command = [sys.executable, __file__, "--worker", workload, "--steps", str(args.steps),
               "--epochs", str(args.epochs), "--data-dir", str(args.data_dir)]
    if ranks > 1:
        mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or "mpiexec"
        command = [mpiexec, "-n", str(ranks), *command, "--mpi"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        sys.exit(f"bench_mpi: {' '.join(command)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--steps", type=int, default=200, help="steps per timed epoch")
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs (after a warm-up one)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" / "mnist")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--mpi", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.workload = args.worker
        return worker(args)
    rows = []
    for name in args.workloads.split(","):
        single, ranks = run(args, name, 1), run(args, name, args.ranks)
        rows.append((name, single, ranks))
    sizes = {name: "-".join(map(str, WORKLOADS[name][0])) for name in WORKLOADS}
    print(f"{args.steps} steps per epoch, {args.epochs} timed epoch(s) after a warm-up one, "
          f"float32, one BLAS thread per process; {rows[0][1]['data']}\n")
    print("| network | global batch | θ (float32) | 1 process | "
          f"{args.ranks} ranks | speed-up | Allreduce per step (in training) | "
          "Allreduce alone |")
    print("|---|---|---|---|---|---|---|---|")
    for name, single, ranks in rows:
        print(f"| {sizes[name]} | {WORKLOADS[name][1]} | {4 * single['params'] / 1e6:.2f} MB | "
              f"{single['samples_per_s']:,.0f} samples/s | {ranks['samples_per_s']:,.0f} samples/s"
              f" | {ranks['samples_per_s'] / single['samples_per_s']:.2f}× | "
              f"{ranks['allreduce_ms']:.2f} ms of {ranks['step_ms']:.1f} ms | "
              f"{ranks['allreduce_alone_ms']:.2f} ms |")


if __name__ == "__main__":
    main()
