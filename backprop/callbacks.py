"""Callbacks for `fit`: early stopping with best-weights restore, and checkpoints.

A callback is any object with ``on_epoch_end(epoch, history, net)`` (return True to
stop training) and optionally ``on_train_end(history, net)``. They run after the
epoch's values have been read back to the host, never inside the training step. A
callback whose state affects the result has ``state_dict()`` / ``load_state_dict()``,
which `Checkpoint` saves and a resumed run restores.
"""

from __future__ import annotations

import math
from pathlib import Path

from .errors import BackpropError, check_number, is_int
from .files.historylog import HistoryLog
from .io import save_checkpoint


class EarlyStopping:
    """Stop when the validation cost has not improved for ``patience`` epochs.

    An improvement is a cost below the best so far by more than ``min_delta``. The cost
    used for an epoch is the validation cost at its last iteration, which `fit` computes
    for callbacks that declare ``needs_validation`` (whatever ``eval_every`` is); it
    refuses to start without ``validation_data``. With ``restore_best`` the network gets
    back the weights of the best epoch at the end of training (a copy of θ kept on the
    device; no host transfer).
    """

    needs_validation = True

    def __init__(self, patience=5, min_delta=0.0, restore_best=True):
        check_number("patience", patience, lambda v: is_int(v) and v >= 1, "an int >= 1")
        check_number("min_delta", min_delta, lambda v: v >= 0, "a number >= 0")
        self.patience, self.min_delta = int(patience), float(min_delta)
        self.restore_best = bool(restore_best)
        self.best = float("inf")
        self.best_epoch = None
        self.best_theta = None
        self.wait = 0
        self.stopped_epoch = None

    def on_epoch_end(self, epoch, history, net):
        cost = history.val_cost[-1]
        if cost < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = cost, epoch, 0
            if self.restore_best:
                self.best_theta = net.get_flat()
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def on_train_end(self, history, net):
        if self.restore_best and self.best_theta is not None:
            with net.backend.context():
                net.set_flat(self.best_theta)

    def state_dict(self):
        """``(scalars, arrays)``: what a resumed run needs to stop where this one would —
        the best cost (None before any), its epoch, the wait, the stop, and θ of the best epoch."""
        scalars = {"best": None if self.best == float("inf") else self.best,
                   "best_epoch": self.best_epoch, "wait": self.wait,
                   "stopped_epoch": self.stopped_epoch}
        return scalars, ({} if self.best_theta is None else {"best_theta": self.best_theta})

    def load_state_dict(self, state):
        """Restore what `state_dict` returned (arrays already on the model's device),
        checking every value: a checkpoint may come from anywhere."""
        scalars, arrays = state
        if set(scalars) != {"best", "best_epoch", "wait", "stopped_epoch"} or \
                set(arrays) - {"best_theta"}:
            raise BackpropError(f"EarlyStopping state must hold best, best_epoch, wait and "
                                f"stopped_epoch; got {sorted(scalars)}"[:300])
        best = scalars["best"]
        if best is not None and (isinstance(best, bool) or not isinstance(best, (int, float))
                                 or not math.isfinite(best)):
            raise BackpropError(f"EarlyStopping best must be a finite number; got {best!r}"[:200])
        for name in ("best_epoch", "wait", "stopped_epoch"):
            value = scalars[name]
            if not (value is None and name != "wait") and not (is_int(value) and value >= 0):
                raise BackpropError(
                    f"EarlyStopping {name} must be an int >= 0; got {value!r}"[:200])
        if (best is None) != (scalars["best_epoch"] is None):
            raise BackpropError(
                "EarlyStopping state has a best cost without its epoch, or the reverse")
        if self.restore_best and best is not None and "best_theta" not in arrays:
            raise BackpropError("EarlyStopping state has a best epoch but not its weights")
        self.best = float("inf") if scalars["best"] is None else float(scalars["best"])
        self.best_epoch, self.wait = scalars["best_epoch"], scalars["wait"]
        self.stopped_epoch = scalars["stopped_epoch"]
        self.best_theta = arrays.get("best_theta") if self.restore_best else None

    def __repr__(self):
        return (f"EarlyStopping(patience={self.patience}, min_delta={self.min_delta}, "
                f"restore_best={self.restore_best})")


class Checkpoint:
    """Save the network and training state to ``path`` after every epoch, so that an
    interrupted run can be resumed exactly with ``fit(..., initial_epoch=, history=)``.

    The history's rows go to ``history_log`` (a `HistoryLog`: new at
    ``<path stem>.history.csv`` by default, or the one `load_checkpoint` returned, to
    continue it), appended once per epoch: the checkpoint stores only its counts, so
    its cost does not grow with the run. The state of ``callbacks`` (e.g. `EarlyStopping`)
    is saved too; list them before the checkpoint in ``fit``'s callbacks, so that it
    saves their state after this epoch. ``loss`` and ``task`` are recorded as by `save`.
    """

    def __init__(self, path, optimizer, config=None, callbacks=(), history_log=None,
                 loss=None, task=None):
        self.path, self.optimizer, self.config = Path(path), optimizer, config
        self.callbacks, self.loss, self.task = list(callbacks), loss, task
        self.log = history_log or HistoryLog(self.path.with_name(self.path.stem + ".history.csv"))
        self.epoch = None               # the last epoch saved (counted from 1)

    def on_epoch_end(self, epoch, history, net):
        self.log.append(history)        # first the rows, then the counts that point to them
        save_checkpoint(self.path, net, self.optimizer, self.log, epoch + 1, self.config,
                        callbacks=self.callbacks, loss=self.loss, task=self.task)
        self.epoch = epoch + 1
        return False
