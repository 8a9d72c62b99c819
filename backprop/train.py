"""Training loop: full-batch gradient descent, mini-batch SGD and online learning.

`fit` moves the data to the model's device once, reshuffles it every epoch from the
seed, runs Algorithm 6.1 and the optimizer's update on each mini-batch, and records
seed 001's learning curves (Example 6.2): the cost and misclassification of every
mini-batch, and of the validation set every ``eval_every`` iterations. Those values
stay on the device during the epoch and are read back once at its end, so the
training step never waits for the host.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import losses as _losses
from .device import Random, to_host
from .errors import BackpropError, BackpropTypeError


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


def _positive_int(name, value, allow_none=False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise BackpropTypeError(f"{name} must be a positive int; got {value!r}")
    if value < 1:
        raise BackpropError(f"{name} must be a positive int; got {value}")


def fit(net, loss, optimizer, X, y, epochs=1, batch_size=None, validation_data=None,
        eval_every=100, seed=0) -> History:
    """Train ``net`` on (X, y) with ``optimizer``; return the `History`.

    ``batch_size=None`` is full-batch gradient descent (every iteration uses all n
    samples), ``batch_size=1`` online learning, anything between mini-batch SGD with
    ⌈n/n_b⌉ iterations per epoch (the last batch may be smaller). The optimizer's
    ``weight_decay`` is passed to `Sequential.backprop`. X and y are not modified.
    """
    loss = _losses.get(loss)
    _positive_int("epochs", epochs)
    _positive_int("batch_size", batch_size, allow_none=True)
    _positive_int("eval_every", eval_every)
    xp = net.xp
    with net.backend.context():
        X = net.inputs(X)
        T = net.targets(y, loss, X.shape[0])
        if validation_data is not None:
            if not isinstance(validation_data, tuple) or len(validation_data) != 2:
                raise BackpropTypeError("validation_data must be a pair (X_val, y_val)")
            Xv = net.inputs(validation_data[0], name="validation_data[0]")
            Tv = net.targets(validation_data[1], loss, Xv.shape[0], name="validation_data[1]")
        n = X.shape[0]
        n_b = n if batch_size is None else min(batch_size, n)
        rng = Random(seed)
        history = History()
        decay = getattr(optimizer, "weight_decay", 0.0)
        t = 0
        for epoch in range(epochs):
            if n_b < n:
                perm = net.backend.asarray(rng.permutation(n), name="permutation")
                Xe, Te = xp.take(X, perm, axis=0), xp.take(T, perm, axis=0)
            else:
                Xe, Te = X, T
            costs, errors, val = [], [], []
            for start in range(0, n, n_b):
                Xb, Tb = Xe[start:start + n_b, ...], Te[start:start + n_b, ...]
                J, grads, out = net.gradients(Xb, Tb, loss, decay)
                if getattr(optimizer, "needs_cost", False):  # line search: J at trial θ
                    optimizer.step(net, grads, cost=lambda: net.gradients(Xb, Tb, loss, decay)[0])
                else:
                    optimizer.step(net, grads)
                t += 1
                costs.append(J)
                errors.append(loss.errors(xp, out, Tb))
                last = epoch == epochs - 1 and start + n_b >= n
                if validation_data is not None and (t % eval_every == 0 or last):
                    out_v = net.loss_input(Xv, loss)
                    val.append((t, loss.cost(xp, out_v, Tv), loss.errors(xp, out_v, Tv)))
            _record(history, xp, costs, errors, val)
    return history


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
