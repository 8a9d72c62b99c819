"""Training loop: full-batch gradient descent, mini-batch SGD and online learning.

`fit` moves the data to the model's device once, reshuffles it every epoch from the
seed, runs Algorithm 6.1 and the optimizer's update on each mini-batch, and records
seed 001's learning curves (Example 6.2): the cost and misclassification of every
mini-batch, and of the validation set every ``eval_every`` iterations. Those values
stay on the device during the epoch and are read back once at its end, so the
training step never waits for the host.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field

from . import losses as _losses
from . import optim as _optim
from .device import Random, batch_sums, fastpath, to_host
from .divergence import Guard
from .errors import BackpropError, BackpropTypeError, check_positive_int


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
        """
        val = {t: i for i, t in enumerate(self.val_iteration)}
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["iteration", "cost", "error", "val_cost", "val_error"])
            for t in range(1, self.iterations + 1):
                i = val.get(t)
                writer.writerow([
                    t, self.cost[t - 1], _at(self.error, t - 1),
                    "" if i is None else self.val_cost[i],
                    "" if i is None else _at(self.val_error, i)])


def _at(values, i):
    return values[i] if i < len(values) else ""


def fit(net, loss, optimizer, X, y, epochs=1, batch_size=None, validation_data=None,
        eval_every=100, seed=0, callbacks=(), progress=False, initial_epoch=0,
        history=None, sample_weight=None, shuffle=True) -> History:
    """Train ``net`` on (X, y) with ``optimizer``; return the `History`.

    ``batch_size=None`` is full-batch gradient descent (every iteration uses all n
    samples), ``batch_size=1`` online learning, anything between mini-batch SGD with
    ⌈n/n_b⌉ iterations per epoch (the last batch may be smaller), reshuffled every epoch
    unless ``shuffle=False``. The optimizer's ``weight_decay`` is passed to
    `Sequential.backprop`; if it is a callable (`optim.BatchScaledDecay`), it is evaluated
    on the host for every mini-batch with the batch's total sample weight.
    ``sample_weight`` (one weight ≥ 0 per sample, moved to the device once with X) makes
    every mini-batch cost the weighted mean Σᵢ wᵢLᵢ/Σᵢ wᵢ. X and y are not modified.
    If the cost becomes NaN/Inf, `DivergenceError` is raised at the end of that epoch
    with the model restored to its weights at the epoch's start (`backprop.divergence`).

    ``callbacks``: objects with ``on_epoch_end(epoch, history, net)``, called after each
    epoch once its values are on the host; a true return value stops training. An
    optional ``on_train_end(history, net)`` is called at the end (see `EarlyStopping`).
    ``progress=True`` shows a tqdm bar whose cost and validation error are updated at
    the end of each epoch only. To resume an interrupted run, pass ``initial_epoch``
    (epochs already done; the shuffles continue as if uninterrupted) and its ``history``,
    which is then extended; ``epochs`` is always the total.
    """
    loss = _losses.get(loss)
    optimizer = _optim.get(optimizer)
    check_positive_int("epochs", epochs)
    if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, int) \
            or not 0 <= initial_epoch < epochs:
        raise BackpropError(f"initial_epoch must be an int in [0, epochs={epochs}); "
                            f"got {initial_epoch!r}")
    check_positive_int("batch_size", batch_size, allow_none=True)
    check_positive_int("eval_every", eval_every)
    xp = net.xp
    with net.backend.context():
        X = net.inputs(X)
        T = net.targets(y, loss, X.shape[0])
        if validation_data is not None:
            if not isinstance(validation_data, tuple) or len(validation_data) != 2:
                raise BackpropTypeError(
                    f"validation_data must be a pair (X_val, y_val); got "
                    f"{type(validation_data).__name__}")
            Xv = net.inputs(validation_data[0], name="validation_data[0]")
            Tv = net.targets(validation_data[1], loss, Xv.shape[0], name="validation_data[1]")
        n = X.shape[0]
        w = None if sample_weight is None else net.sample_weights(sample_weight, n)
        n_b = n if batch_size is None else min(batch_size, n)
        rng = Random(seed)
        history = History() if history is None else history
        decay = getattr(optimizer, "weight_decay", 0.0)
        per_batch = callable(decay)
        # the batches' weight sums come from a host copy of w, read once before training
        w_host = to_host(w) if per_batch and w is not None else None
        step = fastpath.training_step(net, loss, optimizer, 0.0 if per_batch else decay)
        t = history.iterations
        callbacks = list(callbacks or ())
        bar = _progress_bar(progress, (epochs - initial_epoch) * -(-n // n_b))
        for epoch in range(epochs):
            order = rng.permutation(n) if shuffle and n_b < n else None
            if epoch < initial_epoch:
                continue
            guard = Guard(net)
            costs, errors, val = [], [], []
            if per_batch:
                totals = batch_sums(w_host, order, n_b) if w_host is not None else \
                    [min(start + n_b, n) - start for start in range(0, n, n_b)]
            for b, (stop, Xb, Tb, wb) in enumerate(step.batches(X, T, order, n_b, w)):
                J, error = step(Xb, Tb, wb, _optim.decay_for(decay, totals[b]) if per_batch
                                else decay)
                t += 1
                if bar is not None:
                    bar.update()
                costs.append(J)
                errors.append(error)
                last = epoch == epochs - 1 and stop == n
                if validation_data is not None and (t % eval_every == 0 or last):
                    out_v = net.loss_input(Xv, loss)
                    val.append((t, loss.cost(xp, out_v, Tv), loss.errors(xp, out_v, Tv)))
            _record(history, xp, costs, errors, val)
            guard.check(history, len(costs), epoch, optimizer)
            if bar is not None:
                bar.set_postfix(_summary(history), refresh=False)
            if any([callback.on_epoch_end(epoch, history, net) for callback in callbacks]):
                break
        if bar is not None:
            bar.close()
        for callback in callbacks:
            if hasattr(callback, "on_train_end"):
                callback.on_train_end(history, net)
    return history


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
