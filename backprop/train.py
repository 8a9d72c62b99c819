"""Training loop: full-batch gradient descent, mini-batch SGD and online learning.

`fit` moves the data to the model's device once, reshuffles it every epoch from the
seed, runs Algorithm 6.1 and the optimizer's update on each mini-batch, and records
seed 001's learning curves (Example 6.2): the cost and misclassification of every
mini-batch, and of the validation set every ``eval_every`` iterations. Those values
stay on the device during the epoch and are read back once at its end, so the
training step never waits for the host.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field

from . import losses as _losses
from . import optim as _optim
from .device import Random, to_host
from .distributed import DataParallel
from .divergence import Guard
from .errors import BackpropError, BackpropTypeError, check_positive_int, check_seed, is_int
from .files.historylog import write_csv
from .step import Step


@dataclass
class History:
    """Learning curves. ``cost``/``error``: per iteration, on the mini-batch; ``val_*``:
    every ``eval_every`` iterations (and after the last), at the iterations in ``val_iteration``.
    ``error`` and ``val_error`` stay empty for losses without misclassification (regression).
    """

    cost: list = field(default_factory=list)
    error: list = field(default_factory=list)
    val_iteration: list = field(default_factory=list)
    val_cost: list = field(default_factory=list)
    val_error: list = field(default_factory=list)

    @property
    def iterations(self) -> int:
        return len(self.cost)

    def as_dict(self) -> dict:
        """The curves as a dict of lists of Python floats/ints."""
        return {name: list(getattr(self, name)) for name in self.__dataclass_fields__}

    def to_csv(self, path):
        """Write one row per iteration: iteration, cost, error, val_cost, val_error.

        The validation columns are filled at the iterations where it was evaluated and
        empty elsewhere; ``error`` columns are empty for losses without misclassification.
        The file is written atomically, numbers exactly (`backprop.files.historylog`).
        """
        write_csv(self, path)


def fit(net, loss, optimizer, X, y, epochs=1, batch_size=None, validation_data=None,
        eval_every=100, seed=0, callbacks=(), progress=False, initial_epoch=0,
        history=None, sample_weight=None, shuffle=True, comm=None) -> History:
    """Train ``net`` on (X, y) with ``optimizer``; return the `History`.

    ``batch_size=None`` is full-batch gradient descent (every iteration uses all n
    samples), ``batch_size=1`` online learning, anything between mini-batch SGD with
    ⌈n/n_b⌉ iterations per epoch (the last batch may be smaller), reshuffled every epoch
    unless ``shuffle=False``. The optimizer's ``weight_decay`` is passed to
    `Sequential.gradients`. ``sample_weight`` (n numbers ≥ 0) makes each mini-batch's cost
    the weighted mean Σᵢ sᵢLᵢ / Σᵢ sᵢ. X and y are not modified; the model's parameters
    are replaced by copies that training updates (`backprop.step`). If the cost becomes NaN/Inf, `DivergenceError` is raised at the
    end of that epoch with the model restored to its weights at the epoch's start
    (`backprop.divergence`).

    ``callbacks``: objects with ``on_epoch_end(epoch, history, net)``, called after each
    epoch once its values are on the host; a true return value stops training. An
    optional ``on_train_end(history, net)`` is called at the end (see `EarlyStopping`);
    a callback with a true ``needs_validation`` attribute gets the validation cost at
    the end of every epoch (and needs ``validation_data``).
    ``progress=True`` shows a tqdm bar whose cost and validation error are updated at
    the end of each epoch only. To resume an interrupted run, pass ``initial_epoch``
    (epochs already done; the shuffles continue as if uninterrupted) and its ``history``,
    which is then extended; ``epochs`` is always the total.

    ``comm``, an MPI communicator (mpi4py, e.g. ``MPI.COMM_WORLD``), trains data-parallel:
    call fit on every rank with the same network and settings and that rank's rows (X,
    y, sample_weight, validation_data; e.g. `backprop.distributed.shard`). The result
    is that of one process on all the rows, the ranks' rows in rank order
    (`backprop.distributed`).

    Everything is checked before the first step, so a failing call leaves the model as
    it was. Inside an epoch nothing is read back from the device: the costs, errors and
    validation values are read once, in `_end_of_epoch`.
    """
    dist = None if comm is None else DataParallel(comm)
    with net.backend.context(), (nullcontext() if dist is None else dist.running()):
        loss = _losses.get(loss)
        optimizer = _optim.get(optimizer)
        epochs = check_positive_int("epochs", epochs)
        if not is_int(initial_epoch) or not 0 <= initial_epoch < epochs:
            raise BackpropError(f"initial_epoch must be an int in [0, epochs={epochs}); "
                                f"got {initial_epoch!r}")
        initial_epoch = int(initial_epoch)
        batch_size = check_positive_int("batch_size", batch_size, allow_none=True)
        eval_every = check_positive_int("eval_every", eval_every)
        seed = check_seed(seed)
        callbacks = _check_callbacks(callbacks, validation_data)
        if history is not None and not isinstance(history, History):
            raise BackpropTypeError(f"history must be a bp.History; got {type(history).__name__}")
        every_epoch = any(getattr(callback, "needs_validation", False) for callback in callbacks)
        X = net.inputs(X)
        T = net.targets(y, loss, X.shape[0])
        s = net.sample_weights(sample_weight, X.shape[0])
        if validation_data is not None:
            if not isinstance(validation_data, tuple) or len(validation_data) != 2:
                raise BackpropTypeError(
                    f"validation_data must be a pair (X_val, y_val); got "
                    f"{type(validation_data).__name__}")
            Xv = net.inputs(validation_data[0], name="validation_data[0]")
            Tv = net.targets(validation_data[1], loss, Xv.shape[0], name="validation_data[1]")
        history = History() if history is None else history
        if dist is None:
            n = X.shape[0]
        else:
            n = dist.start(net, X, T, s, None if validation_data is None else Xv, {
                "loss": loss, "optimizer": optimizer, "epochs": epochs,
                "batch size": batch_size, "seed": seed, "validation every": eval_every,
                "validation at every epoch": every_epoch, "initial epoch": initial_epoch,
                "iterations done": history.iterations, "sample weights": s is not None,
                "validation data": validation_data is not None, "shuffle": bool(shuffle)})
            callbacks = dist.callbacks(callbacks)
        n_b = n if batch_size is None else min(batch_size, n)
        # a schedule or a λ(Σw) that gives no number fails here, not after a step
        if hasattr(optimizer, "rate"):
            optimizer.rate()
        _optim.decay(getattr(optimizer, "weight_decay", 0.0), n_b)
        rng = Random(seed)
        step = Step(net, loss, optimizer, s, dist)
        t = history.iterations
        guard = Guard(net)
        bar = _progress_bar(progress, (epochs - initial_epoch) * -(-n // n_b))
        for epoch in range(epochs):
            order = rng.permutation(n) if shuffle and n_b < n else None
            if epoch < initial_epoch:
                continue
            costs, errors, val = [], [], []
            for stop, Xb, Tb, sb, weight in step.batches(X, T, order, n_b):
                J, error = step(Xb, Tb, sb, weight)
                t += 1
                if bar is not None:
                    bar.update()
                costs.append(J)
                errors.append(error)
                last = epoch == epochs - 1 and stop == n
                if validation_data is not None and (
                        t % eval_every == 0 or last or (every_epoch and stop == n)):
                    val.append((t, *step.evaluate(Xv, Tv)))
            if _end_of_epoch(net, optimizer, history, epoch, costs, errors, val, guard, bar,
                             callbacks):
                break
        if bar is not None:
            bar.close()
        for callback in callbacks:
            if hasattr(callback, "on_train_end"):
                callback.on_train_end(history, net)
    return history


def _check_callbacks(callbacks, validation_data) -> list:
    """The callbacks as a list, each checked before any work is done."""
    callbacks = list(callbacks or ())
    for callback in callbacks:
        if not callable(getattr(callback, "on_epoch_end", None)):
            raise BackpropTypeError(
                f"callbacks must have an on_epoch_end(epoch, history, net) method; got "
                f"{type(callback).__name__}")
        if getattr(callback, "needs_validation", False) and validation_data is None:
            raise BackpropError(
                f"{type(callback).__name__} needs the validation cost: pass validation_data "
                f"to fit")
    return callbacks


def _end_of_epoch(net, optimizer, history, epoch, costs, errors, val, guard, bar, callbacks):
    """Everything `fit` does between two epochs, where device values may be read back:
    the learning curves (`_record`), the divergence check, the progress bar and the
    callbacks. Returns True if a callback asks to stop."""
    _record(history, net.xp, costs, errors, val)
    guard.check(history, len(costs), epoch, optimizer)
    if bar is not None:
        bar.set_postfix(_summary(history), refresh=False)
    return any([callback.on_epoch_end(epoch, history, net) for callback in callbacks])


def _progress_bar(progress, total):
    """A tqdm bar over all iterations, or None."""
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="it", desc="training", leave=True, dynamic_ncols=True)


def _summary(history) -> dict:
    """The latest values shown on the progress bar (already on the host)."""
    shown = {"cost": f"{history.cost[-1]:.4f}"}
    if history.val_cost:
        shown["val_cost"] = f"{history.val_cost[-1]:.4f}"
    if history.val_error:
        shown["val_err"] = f"{history.val_error[-1]:.2%}"
    return shown


def _record(history, xp, costs, errors, val):
    """Read one epoch's device values back to the host (one transfer per curve)."""
    history.cost += to_host(xp.stack(costs)).tolist()
    if errors[0] is not None:
        history.error += to_host(xp.stack(errors)).tolist()
    if val:
        history.val_iteration += [t for t, _, _ in val]
        history.val_cost += to_host(xp.stack([c for _, c, _ in val])).tolist()
        if val[0][2] is not None:
            history.val_error += to_host(xp.stack([e for _, _, e in val])).tolist()
