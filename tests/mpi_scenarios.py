"""Training scenarios run on every rank of ``mpiexec`` by tests/test_distributed.py.

    mpiexec -n P python tests/mpi_scenarios.py OUT SPLIT [NAME ...]

runs each scenario with this rank's rows and writes ``OUT/NAME.RANK.npz`` (final θ,
learning curves, and what else the scenario records, e.g. an error message). SPLIT is
``even`` (`backprop.distributed.local_rows`) or the training rows of each rank, e.g.
``5,20,25``. The tests run the same functions with ``comm=None`` on all rows in one
process: the single-process reference.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import backprop as bp
from backprop import distributed
from backprop.device import to_host

N, N_VAL = 50, 20


def data(loss="cross_entropy"):
    """Training and validation rows (float64) for ``loss``, the same on every rank."""
    rng = np.random.default_rng(11)
    X, Xv = rng.normal(size=(N, 5)), rng.normal(size=(N_VAL, 5))
    if loss == "squared_error":
        return X, np.sin(X[:, :2]), Xv, np.sin(Xv[:, :2])
    label = lambda A: (A[:, 0] * A[:, 1] > 0).astype(np.int64) + (A[:, 2] > 1)  # noqa: E731
    return X, label(X), Xv, label(Xv)


def net(seed=3, activation="tanh", outputs=3, dtype="float64"):
    return bp.Sequential([bp.Dense(5, 7, activation), bp.Dense(7, outputs)], dtype=dtype,
                         seed=seed)


class Part:
    """Which rows this rank holds (all of them without ``comm``); ``folder`` holds the
    scenarios' files."""

    def __init__(self, comm, split, folder):
        self.comm, self.split, self.folder = comm, split, Path(folder)

    def __call__(self, n, validation=False):
        if self.comm is None:
            return slice(0, n)
        if self.split == "even" or validation:
            return slice(*distributed.local_rows(n, self.comm))
        counts = [int(c) for c in self.split.split(",")]
        assert sum(counts) == n and len(counts) == self.comm.Get_size()
        r = self.comm.Get_rank()
        return slice(sum(counts[:r]), sum(counts[:r + 1]))


def train(part, optimizer, loss="cross_entropy", weights=False, model=None, **kwargs):
    """fit on this rank's rows (validation rows too); returns what the tests compare."""
    X, y, Xv, yv = data(loss)
    rows, val = part(N), part(N_VAL, validation=True)
    s = np.random.default_rng(5).uniform(0.1, 2.0, N) if weights else None
    model = net(outputs=2 if loss == "squared_error" else 3) if model is None else model
    history = bp.fit(model, loss, optimizer, X[rows], y[rows], epochs=3,
                     validation_data=(Xv[val], yv[val]), seed=7, comm=part.comm,
                     sample_weight=None if s is None else s[rows], **kwargs)
    return {"theta": to_host(model.get_flat()), **{k: np.asarray(v, dtype=float)
                                                    for k, v in history.as_dict().items()}}


def sgd(part):
    """Plain SGD (fused in one process): the last batch (50 = 6·8 + 2) is shorter."""
    return train(part, bp.SGD(0.3), batch_size=8, eval_every=3)


def momentum_decay(part):
    """Nesterov momentum, weight decay, a schedule and early stopping (a callback)."""
    opt = bp.SGD(bp.StepDecay(0.2, every=5), momentum=0.9, nesterov=True, weight_decay=1e-2)
    return train(part, opt, batch_size=16, eval_every=4,
                 callbacks=[bp.EarlyStopping(patience=5)])


def adam_weighted(part):
    """Adam with weight decay and sample weights (the batch's weight is global)."""
    return train(part, bp.Adam(0.02, weight_decay=1e-3), weights=True, batch_size=7,
                 eval_every=5)


def per_sample_decay(part):
    """λ = α/Σ_batch s (`PerSample`): the global batch weight reaches the decay."""
    return train(part, bp.SGD(0.2, weight_decay=bp.PerSample(0.5)), weights=True,
                 batch_size=9, eval_every=6)


def online(part):
    """batch_size=1: most ranks hold no row of most batches (they add zeros)."""
    return train(part, bp.SGD(0.05, momentum=0.5), batch_size=1, eval_every=25)


def regression(part):
    """Squared error (no misclassification): the error slot of the buffer stays 0."""
    return train(part, bp.SGD(0.1), loss="squared_error", batch_size=10, eval_every=2)


def float32(part):
    """The default dtype (compared to rounding, not 1e-10)."""
    return train(part, bp.SGD(0.3, momentum=0.9), model=net(dtype="float32"), batch_size=8,
                 eval_every=3)


def line_search(part):
    """Full-batch gradient descent with seed 000's line search and weight decay."""
    opt = bp.LineSearch(lr=4.0, weight_decay=1e-3)
    result = train(part, opt, batch_size=None, eval_every=1)
    return {**result, "steps": np.asarray(opt.steps), "evaluations": opt.evaluations}


def memory_mapped(part):
    """Each rank opens the .npy files memory-mapped and keeps only its rows (`shard`)."""
    paths = [part.folder / "X.npy", part.folder / "y.npy"]
    if part.comm is None:
        X, y = (np.load(path) for path in paths)
    else:
        X, y = (distributed.shard(path, part.comm) for path in paths)
        start, stop = distributed.local_rows(np.load(paths[1], mmap_mode="r").shape[0],
                                             part.comm)
        assert isinstance(X, np.memmap) and X.shape[0] == y.shape[0] == stop - start
    model = net()
    assert part.comm is None or np.shares_memory(model.inputs(X), X)   # trained from the map
    history = bp.fit(model, "cross_entropy", bp.SGD(0.3), X, y, epochs=2, batch_size=6,
                     seed=1, comm=part.comm)
    return {"theta": to_host(model.get_flat()), "cost": np.asarray(history.cost)}


def divergence(part):
    """Too large a rate: DivergenceError on every rank at the same iteration."""
    X, y, _, _ = data()
    rows = part(N)
    model = net(activation="relu")
    try:
        bp.fit(model, "squared_error", bp.SGD(5.0), 10 * X[rows], 10 * np.eye(3)[y[rows]],
               epochs=4, batch_size=8, comm=part.comm)
    except bp.DivergenceError as exc:
        return {"theta": to_host(model.get_flat()), "epoch": exc.epoch,
                "iteration": exc.iteration, "cost": np.asarray(exc.history.cost)}
    return {"iteration": -1}


def _error(part, **changes):
    """fit with ``changes`` on the last rank only; the message each rank raised."""
    X, y, _, _ = data()
    rows = part(N)
    last = part.comm is not None and part.comm.Get_rank() == part.comm.Get_size() - 1
    X = X[rows].copy()
    kwargs = {"seed": 7, "callbacks": []}
    model = net()
    if last:
        if "nan" in changes:
            X[0, 0] = np.nan
        if "seed" in changes:
            model = net(seed=changes["seed"])
        if "callback" in changes:
            kwargs["callbacks"] = [changes["callback"]]
    try:
        bp.fit(model, "cross_entropy", bp.SGD(0.1), X, y[rows], epochs=3, batch_size=8,
               comm=part.comm, **kwargs)
    except Exception as exc:
        return {"message": f"{type(exc).__name__}: {exc}"}
    return {"message": ""}


class Failing:
    def on_epoch_end(self, epoch, history, net):
        if epoch == 1:
            raise OSError("no space left on device")


def bad_input(part):
    return _error(part, nan=True)


def other_seed(part):
    return _error(part, seed=4)


def failing_callback(part):
    return _error(part, callback=Failing())


SCENARIOS = {f.__name__: f for f in (
    sgd, momentum_decay, adam_weighted, per_sample_decay, online, regression, float32,
    line_search, memory_mapped, divergence, bad_input, other_seed, failing_callback)}


def main(out, split, names):
    comm = distributed.world()
    for name in names or SCENARIOS:
        result = SCENARIOS[name](Part(comm, split, out))
        np.savez(Path(out) / f"{name}.{comm.Get_rank()}.npz", **result)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
