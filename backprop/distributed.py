"""Data-parallel training over MPI: one Algorithm 6.1 on the rows of several processes.

``fit(net, loss, optimizer, X, y, ..., comm=comm)``, called on every rank of an MPI
communicator (mpi4py, ``pip install 'backprop[mpi]'``) with that rank's rows, trains
exactly as one process would on all the rows: rank r holds rows
[offset_r, offset_r + n_r) of the global data set (the ranks' rows in rank order, e.g.
from `shard`), and

* **same start**: every rank builds θ₀ from the seed. `fit` starts with one
  ``allgather`` that carries each rank's row counts, a digest of θ and of the network,
  dtype, data width, loss, optimizer (settings and state) and training settings, and
  any error its input checks raised: bad input on one rank, or ranks that disagree,
  give the same `BackpropError` on every rank before any work is done;
* **the single-process algorithm**: every rank draws the epoch's permutation of all n
  rows from the seed, so mini-batch k is the same set of samples as in one process;
  each rank gathers the rows of it that it holds (`DataParallel.parts`) and weights
  each by its share of the whole batch, wᵢ = sᵢ / Σ_batch s (1/n_b without sample
  weights). The ranks' gradients then *sum* to ∇θJ of the batch: one ``Allreduce`` per
  step of one flat buffer [∇θJ in θ's order (6.17), J, error], of which the step's
  dW⁽ˡ⁾ and db⁽ˡ⁾ are views, sums gradient, cost and misclassification at once. λW
  and λ/2‖W‖² are added once, after the sum, and every rank applies the same update
  to the same θ (plain SGD's fused update gives way to gradient → sum → update). A
  rank holding no row of a batch contributes zeros;
* **full-batch gradient descent and `LineSearch`**: the cost of every trial step is
  summed over the ranks, so every rank accepts the same step;
* **validation**: each rank's validation rows are weighted by 1/n_val and the cost
  and misclassification summed, so `History` is identical on every rank; the
  divergence guard (`backprop.divergence`) therefore stops every rank at the same
  iteration;
* **failure**: before training starts and at the end of each epoch (callbacks such as
  checkpoints, which may run on rank 0 only) the ranks agree: an exception on one
  rank becomes a `BackpropError` on every rank, naming the rank. Inside an epoch the
  ranks meet only in the all-reduce, so an exception there is printed on one line by
  the failing rank, which then ends all ranks with ``MPI_Abort``: no rank waits forever.

On GPUs each rank uses its own GPU (`device`) and the sum runs through NCCL or a
CUDA-aware MPI (`backprop.device.collective`). The design note is docs/distributed.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys

import numpy as np

from .device import collective, to_host
from .errors import BackpropError, BackpropTypeError, DivergenceError
from .ops import BufferedOps

EXTRA = "pip install 'backprop[mpi]' (mpi4py and MPICH; on a cluster, mpi4py built " \
        "against its MPI)"
#: environment variables in which MPI launchers give the number of processes
LAUNCHER_SIZE = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE",
                 "SLURM_STEP_NUM_TASKS")
#: ... and a process's rank among those on its node
LOCAL_RANK = ("OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "MV2_COMM_WORLD_LOCAL_RANK",
              "SLURM_LOCALID")
#: environment variables that set BLAS/OpenMP thread counts (`share_cores` leaves them be)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def mpi():
    """The ``mpi4py.MPI`` module, or a `BackpropError` naming the extra to install."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise BackpropError(f"training on several processes needs mpi4py, which is not "
                            f"installed: {EXTRA}") from exc
    return MPI


def world():
    """``MPI.COMM_WORLD`` (see `mpi` for a missing mpi4py)."""
    return mpi().COMM_WORLD


def launched():
    """``COMM_WORLD`` if an MPI launcher (``mpiexec``, ``srun``) started this process
    among several, else None. Started so without mpi4py: a `BackpropError` naming it."""
    sizes = [os.environ.get(name, "") for name in LAUNCHER_SIZE]
    if not any(size.isdigit() and int(size) > 1 for size in sizes):
        return None
    comm = world()
    return comm if comm.Get_size() > 1 else None


def local_rows(n: int, comm=None) -> tuple:
    """``(start, stop)``: this rank's block of ``n`` rows split into contiguous blocks
    in rank order, the first ``n % size`` ranks one row more than the others."""
    comm = world() if comm is None else comm
    rank, size = comm.Get_rank(), comm.Get_size()
    q, r = divmod(n, size)
    start = rank * q + min(rank, r)
    return start, start + q + (rank < r)


def shard(data, comm=None):
    """This rank's rows (`local_rows`) of an array or of a ``.npy`` file.

    A file is opened memory-mapped, so the rank reads only its own rows from disk (and
    the data set never needs to fit in one process's memory); the result is a view.
    """
    if isinstance(data, (str, os.PathLike)):
        try:
            data = np.load(data, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            raise BackpropError(f"data file {data} does not exist") from None
        except (OSError, ValueError) as exc:
            raise BackpropError(f"cannot read {data} as a .npy array: {exc}") from None
        if not isinstance(data, np.ndarray):
            raise BackpropError("shard reads .npy files (one array each); got an .npz archive")
    if getattr(data, "ndim", 0) < 1:
        raise BackpropTypeError(f"data must be an array with one sample per row or a .npy "
                                f"file; got {type(data).__name__}")
    start, stop = local_rows(data.shape[0], comm)
    return data[start:stop]


def local_rank(comm=None) -> int:
    """This process's rank among the ranks on its node: from the launcher's environment
    (Open MPI, MPICH, MVAPICH, SLURM), else from ``Split_type(COMM_TYPE_SHARED)``."""
    for name in LOCAL_RANK:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    comm = world() if comm is None else comm
    node = comm.Split_type(mpi().COMM_TYPE_SHARED)
    try:
        return node.Get_rank()
    finally:
        node.Free()


def device(comm=None) -> str:
    """``"cuda:N"``: this rank's own GPU, N its `local_rank` (or 0 where the launcher
    shows each rank one GPU), for ``Sequential(..., device=device(comm))``."""
    return collective.cuda_device(local_rank(comm))


def share_cores(comm) -> int | None:
    """Limit this rank's BLAS threads to its share of the node's cores, as ``torchrun``
    does, unless ``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS``/``MKL_NUM_THREADS`` is set;
    returns the number set (None: left alone, or threadpoolctl missing). Ranks bound to
    cores by the launcher keep one thread per core they are bound to. Collective."""
    node = comm.Split_type(mpi().COMM_TYPE_SHARED)
    ranks = node.Get_size()
    node.Free()
    if any(os.environ.get(name) for name in THREAD_VARIABLES):
        return None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    cores = os.cpu_count() or 1
    mine = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    threads = max(1, mine if mine < cores else cores // ranks)
    threadpool_limits(threads, user_api="blas")
    return threads


@contextlib.contextmanager
def agreement(comm):
    """Leave a block on every rank of ``comm`` together: if it raised on any rank, it
    raises on every rank (the failing rank's own exception; on the others a
    `BackpropError` naming that rank and its message). Every rank must enter it."""
    try:
        yield
    except Exception as exc:
        _agree(comm, exc)
    _agree(comm, None)


def evaluate(net, loss, X, y, comm):
    """``(cost, error)`` of ``net`` on the rows of every rank (each passes its own
    ``(X, y)``) as host floats: the data cost (no weight decay) and misclassification
    (None for regression losses), each row weighted by 1/n over all n rows."""
    from . import losses

    loss = losses.get(loss)
    MPI = mpi()
    with net.backend.context():
        with agreement(comm):
            X = net.inputs(X)
            T = net.targets(y, loss, X.shape[0])
        weights = net.xp.full((X.shape[0],), 1.0 / comm.allreduce(X.shape[0]),
                              dtype=net.dtype, device=net.device)
        J, error = net.evaluate(X, T, loss, weights=weights)
        sums = np.array([float(to_host(J)), 0.0 if error is None else float(to_host(error))])
    comm.Allreduce(MPI.IN_PLACE, sums, op=MPI.SUM)
    return float(sums[0]), None if error is None else float(sums[1])


class DataParallel:
    """The ``reduce`` hook of `Step` for one ``fit(..., comm=comm)`` call: the start-up
    check (`start`), the rows of each batch (`parts`, `weights`), the sums over the
    ranks (``__call__``, `cost`, `evaluate`) and the failure rules (`running`,
    `callbacks`).
    """

    def __init__(self, comm):
        self.MPI = mpi()
        if not all(callable(getattr(comm, name, None))
                   for name in ("Allreduce", "allgather", "Abort", "Get_rank")):
            raise BackpropTypeError(f"comm must be an mpi4py communicator such as "
                                    f"MPI.COMM_WORLD; got {type(comm).__name__}")
        self.comm, self.rank, self.size = comm, comm.Get_rank(), comm.Get_size()
        self.started = False

    # -- failure ------------------------------------------------------------------------
    @contextlib.contextmanager
    def running(self):
        """The body of `fit`. An exception before `start` is agreed in `start`'s exchange;
        one that every rank raises together passes; any other ends all ranks (`_abort`)."""
        try:
            yield
        except BaseException as exc:
            if isinstance(exc, DivergenceError):  # found by every rank at the same iteration
                raise _everywhere(exc)
            if getattr(exc, "all_ranks", False):
                raise
            if not self.started:
                self._exchange(exc, None)
            if self.size == 1:
                raise
            _abort(self.comm, exc)

    def callbacks(self, callbacks) -> list:
        """`fit`'s callbacks as one that runs them on this rank (rank 0 may have more than
        the others, e.g. a checkpoint) and agrees with the other ranks after each epoch:
        training stops if a callback on any rank asks; an exception on any rank is
        raised on every rank."""
        return [_Agreed(self.comm, callbacks)]

    # -- start ------------------------------------------------------------------------
    def start(self, net, X, T, s, Xv, settings) -> int:
        """Exchange and compare what every rank trains (see the module docstring); set the
        rank's place in the global rows; return the global number of rows n."""
        problem = None if isinstance(net.ops, BufferedOps) else BackpropError(
            f"data-parallel training (comm=) runs on NumPy (device='cpu') or CuPy "
            f"(device='cuda:N') models; this model uses {net.backend.name}")
        info = None if problem else (X.shape[0], 0 if Xv is None else Xv.shape[0],
                                     _describe(net, X, T, settings))
        infos = self._exchange(problem, info)
        first = infos[0][2]
        for key, value in first.items():
            other = next((r for r, info in enumerate(infos) if info[2][key] != value), None)
            if other is not None:
                raise _everywhere(BackpropError(
                    f"the ranks disagree on the {key}: rank 0 has {value}, rank {other} has "
                    f"{infos[other][2][key]}; every rank must build the same network from "
                    f"the same seed and call fit with the same settings"))
        counts = [info[0] for info in infos]
        self.n, self.n_local = sum(counts), counts[self.rank]
        self.offset = sum(counts[:self.rank])
        self.n_val = sum(info[1] for info in infos)
        self.host_weights = None if s is None else to_host(s).astype(np.float64)
        return self.n

    def _exchange(self, error, info):
        """The start-up allgather of ``(info, error)``; raises on every rank if any rank
        had an error, else returns every rank's info."""
        self.started = True
        return _gather(self.comm, error, info)

    # -- the step ---------------------------------------------------------------------
    def attach(self, net):
        """Allocate the flat buffer [∇θJ (6.17), J, error], whose first part is the step's
        gradient (`Step` makes dW⁽ˡ⁾ and db⁽ˡ⁾ views of it); a second, small buffer sums
        costs."""
        self.net, ops = net, net.ops
        self.flat = ops.buffer((net.n_params + 2,), net.dtype)
        self.gradient = self.flat[:net.n_params]          # ∇θJ in θ's order (6.17)
        self.scalars = ops.buffer((2,), net.dtype)
        self.allreduce = collective.allreducer(self.comm, net.backend)

    def parts(self, order, n_b):
        """``(rows, parts)`` for an epoch: ``rows``, this rank's rows (local indices) in
        the order of the global permutation ``order`` (None: all rows in order, one
        batch), and per global mini-batch k, ``parts[k] = (lo, hi, weight)``: its rows
        are ``rows[lo:hi]``, and ``weight`` is the whole batch's total sample weight
        (its size without sample weights; one host all-reduce per epoch with them)."""
        n, lo = self.n, self.offset
        index = np.arange(n) if order is None else np.asarray(order)
        mine = (index >= lo) & (index < lo + self.n_local)
        starts = np.arange(0, n, n_b)
        bounds = np.concatenate([[0], np.cumsum(np.add.reduceat(mine.astype(np.intp), starts))])
        if self.host_weights is None:
            totals = (np.minimum(starts + n_b, n) - starts).astype(np.float64)
        else:
            held = np.zeros(n)
            held[mine] = self.host_weights[index[mine] - lo]
            totals = np.add.reduceat(held, starts)
            self.comm.Allreduce(self.MPI.IN_PLACE, totals, op=self.MPI.SUM)
        parts = [(int(bounds[k]), int(bounds[k + 1]), float(totals[k]))
                 for k in range(len(starts))]
        return (None if order is None else index[mine] - lo), parts

    def weights(self, s, rows, total):
        """The rows' shares wᵢ = sᵢ / Σ_batch s of their global batch (1/n_b each
        without sample weights)."""
        net = self.net
        if s is None:
            return net.xp.full((rows,), 1.0 / total, dtype=net.dtype, device=net.device)
        return s / total

    def __call__(self, J, grads, error, decay, scale=1.0):
        """Sum this rank's (J, ∇θJ, error) over the ranks in one all-reduce of the flat
        buffer, then add λ/2 Σ‖W‖² and λW once (seed 000, §11.3). ``grads`` are views
        of the buffer and come back summed; if they were computed with a ``scale``
        (−γ: the SGD step), the λW term is scaled alike."""
        J, error = self._sum(J, error, self.flat)
        if decay:
            for layer, (dW, _) in zip(self.net.layers, grads):
                self.net.ops.add_scaled(dW, scale * decay, layer.W)
            J = self.net.penalised(J, decay)
        return J, grads, error

    def cost(self, J, decay):
        """This rank's share of a cost summed over the ranks, plus λ/2 Σ‖W‖²."""
        return self.net.penalised(self._sum(J, None)[0], decay)

    def evaluate(self, X, T, loss, ws):
        """``(J, error)`` of the validation rows of every rank (each weighted 1/n_val)."""
        net = self.net
        weights = net.xp.full((X.shape[0],), 1.0 / self.n_val, dtype=net.dtype,
                              device=net.device)
        return self._sum(*net.evaluate(X, T, loss, weights=weights, ws=ws))

    def _sum(self, J, error, buffer=None):
        """Sum (J, error) over the ranks: written into the last two entries of ``buffer``
        (the flat gradient, summed with them) or of the small one, all-reduced; returns
        copies of the two sums as 0-d device arrays (nothing is read back)."""
        buffer = self.scalars if buffer is None else buffer
        tail = buffer[buffer.shape[0] - 2:]
        tail[0:1] = J                             # slices: a device copy, never float(J)
        tail[1:2] = 0.0 if error is None else error
        self.allreduce(buffer)
        return tail[0].copy(), None if error is None else tail[1].copy()


class _Agreed:
    """Callbacks run on one rank, with the outcome agreed by all (`DataParallel.callbacks`)."""

    def __init__(self, comm, callbacks):
        self.comm, self.callbacks = comm, callbacks

    def on_epoch_end(self, epoch, history, net):
        return self._run("on_epoch_end", epoch, history, net)

    def on_train_end(self, history, net):
        self._run("on_train_end", history, net)

    def _run(self, method, *args):
        try:
            stop = any([getattr(c, method)(*args) for c in self.callbacks if hasattr(c, method)])
        except Exception as exc:
            _agree(self.comm, exc)
        return _agree(self.comm, None, stop)


def _describe(net, X, T, settings) -> dict:
    """What every rank must agree on, as short strings (digests for arrays)."""
    sizes = "-".join(str(n) for n in [net.n_inputs] + [layer.n_out for layer in net.layers])
    activations = ", ".join(layer.activation.name for layer in net.layers)
    described = {
        "network": f"{sizes} ({activations}) {net.dtype} on {net.backend.name}",
        "parameters θ at the start": _digest([to_host(net.get_flat())]),
        "data width": X.shape[1], "target width": T.shape[1]}
    for key, value in settings.items():
        described[key] = _text(value)
    optimizer = settings.get("optimizer")
    if hasattr(optimizer, "state_dict"):
        scalars, buffers = optimizer.state_dict()
        described["optimizer state"] = f"{scalars} " + _digest(
            [to_host(a) for name in sorted(buffers) for a in buffers[name]])
    return described


def _digest(arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return "sha256 " + h.hexdigest()[:16]


def _text(value) -> str:
    """``repr`` without memory addresses (a lambda's differs from process to process)."""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))


def _message(exc) -> str:
    return str(exc) if isinstance(exc, BackpropError) else f"{type(exc).__name__}: {exc}"


def _everywhere(exc):
    """Mark ``exc`` as raised on every rank together (no abort needed)."""
    exc.all_ranks = True
    return exc


def _gather(comm, error, value):
    """Allgather ``(value, error)``; raise on every rank if any rank had an error (its own
    on that rank, on the others a `BackpropError` naming the first failing rank), else
    return every rank's value."""
    gathered = comm.allgather((value, None if error is None else _message(error)))
    if error is not None:
        raise _everywhere(error)
    failed = [(r, message) for r, (_, message) in enumerate(gathered) if message]
    if failed:
        rank, message = failed[0]
        raise _everywhere(BackpropError(f"rank {rank} of {comm.Get_size()}: {message}"))
    return [v for v, _ in gathered]


def _agree(comm, error, value=False):
    """`_gather` of a flag: whether it is true on any rank."""
    return any(_gather(comm, error, bool(value)))


def _abort(comm, exc):
    """One line on stderr, then ``MPI_Abort``: every rank of the job ends. MPI_Abort may
    return before the launcher has ended the job (MPICH's does), so the rank then exits
    at once rather than run on."""
    print(f"backprop: rank {comm.Get_rank()} of {comm.Get_size()} failed: {_message(exc)}; "
          f"stopping all ranks (MPI_Abort)", file=sys.stderr, flush=True)
    comm.Abort(1)
    os._exit(1)
