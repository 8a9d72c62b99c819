"""Callbacks for `fit`: early stopping with best-weights restore, and checkpoints.

A callback is any object with ``on_epoch_end(epoch, history, net)`` (return True to
stop training) and optionally ``on_train_end(history, net)``. They run after the
epoch's values have been read back to the host, never inside the training step.
"""

from __future__ import annotations

from .errors import BackpropError, check_number, is_int
from .io import save_checkpoint


class EarlyStopping:
    """Stop when the validation cost has not improved for ``patience`` epochs.

    An improvement is a cost below the best so far by more than ``min_delta``. The cost
    used for an epoch is the validation cost at its last iteration, so ``fit`` needs
    ``validation_data`` and an ``eval_every`` that divides the iterations per epoch (or
    equals it). With ``restore_best`` the network gets back the weights of the best epoch
    at the end of training (a copy of θ kept on the device; no host transfer).
    """

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
        if not history.val_iteration or history.val_iteration[-1] != history.iterations:
            raise BackpropError(
                "EarlyStopping needs the validation cost at the end of every epoch: pass "
                "validation_data to fit and an eval_every that divides the iterations per "
                f"epoch (iteration {history.iterations} has no validation value)")
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

    def __repr__(self):
        return (f"EarlyStopping(patience={self.patience}, min_delta={self.min_delta}, "
                f"restore_best={self.restore_best})")


class Checkpoint:
    """Save the network and training state to ``path`` after every epoch (`save_checkpoint`),
    so that an interrupted run can be resumed with ``fit(..., initial_epoch=, history=)``."""

    def __init__(self, path, optimizer, config=None):
        self.path, self.optimizer, self.config = path, optimizer, config

    def on_epoch_end(self, epoch, history, net):
        save_checkpoint(self.path, net, self.optimizer, history, epoch + 1, self.config)
        return False
