"""scikit-learn's end-of-epoch rules for the MLP estimators, run as a `backprop.fit` callback.

scikit-learn's stochastic solvers do this after every epoch (pass over the data):

* ``loss_`` = the mean of the epoch's mini-batch costs weighted by batch size, appended
  to ``loss_curve_``; ``t_`` grows by the number of training samples;
* without early stopping, an epoch whose ``loss_`` is not below ``best_loss_ − tol``
  counts as "no improvement"; with early stopping, one whose validation score (accuracy
  or R², weighted by the validation samples' weights) is not above
  ``best_validation_score_ + tol``; the best score's weights are kept;
* ``learning_rate="invscaling"`` (sgd) sets γ = γ₀ / (t_ + 1)^power_t;
* after more than ``n_iter_no_change`` such epochs in a row, training stops, except
  with ``learning_rate="adaptive"`` (sgd), where γ is divided by 5 and the count
  restarts (training stops once γ ≤ 10⁻⁶);
* at the end, early stopping restores the weights of the best validation score.

`fit` calls `EpochControl.on_epoch_end` once the epoch's costs are on the host, so
nothing here reads the device inside an epoch; the validation score reads the
predictions for the validation set once per epoch.

scikit-learn's momentum keeps a velocity of *steps*, u ← μu − γ∇J, where `backprop.SGD`
keeps one of gradients, v ← μv + ∇J, θ ← θ − γv. Both are the same as long as γ is
constant (u = −γv); when the rate changes from γ to γ′ at an epoch end, `Rate.set`
rescales v by γ/γ′ so that the two stay equal.
"""

from __future__ import annotations

import math
import warnings

from sklearn.exceptions import ConvergenceWarning

from ..device import to_host


class Rate:
    """The learning rate γ as a `backprop` schedule (a callable of the step count t)
    whose value changes only at epoch ends, where `EpochControl` sets it."""

    def __init__(self, value):
        self.value = float(value)

    def __call__(self, t: int) -> float:
        return self.value

    def set(self, value, optimizer, ops):
        """γ ← ``value``; the momentum velocity is rescaled by γ/γ′ (see module docstring),
        in place where ``ops`` writes in place (it is a view of `fit`'s flat state)."""
        old, self.value = self.value, float(value)
        velocity = getattr(optimizer, "velocity", None)
        if velocity is not None and self.value != old:
            optimizer.velocity = [ops.into(v * (old / self.value), v) for v in velocity]

    def __repr__(self):
        return f"Rate({self.value})"


class EpochControl:
    """The per-epoch rules above for estimator ``est`` training ``n`` samples in batches of
    ``n_b``; ``validation`` is ``(X_val on the device, y_val, sample_weight_val)`` or None."""

    def __init__(self, est, optimizer, n, n_b, validation, incremental):
        self.est, self.optimizer, self.n = est, optimizer, n
        self.sizes = [min(start + n_b, n) - start for start in range(0, n, n_b)]
        self.validation, self.incremental = validation, incremental

    def on_epoch_end(self, epoch, history, net):
        est = self.est
        costs = history.cost[len(history.cost) - len(self.sizes):]
        est.loss_ = math.fsum(J * m for J, m in zip(costs, self.sizes)) / self.n
        est.n_iter_ += 1
        est.t_ += self.n
        est.loss_curve_.append(est.loss_)
        if est.verbose:
            print("Iteration %d, loss = %.8f" % (est.n_iter_, est.loss_))
        self._count_no_improvement(net)
        if est.solver == "sgd" and est.learning_rate == "invscaling":
            self.optimizer.lr.set(est.learning_rate_init / (est.t_ + 1) ** est.power_t,
                                  self.optimizer, net.ops)
        if est._no_improvement_count > est.n_iter_no_change:
            if self._stops(net.ops):
                return True
            est._no_improvement_count = 0
        if not self.incremental and est.n_iter_ == est.max_iter:
            warnings.warn(
                "Stochastic Optimizer: Maximum iterations (%d) reached and the optimization "
                "hasn't converged yet." % est.max_iter, ConvergenceWarning)
        return False

    def on_train_end(self, history, net):
        """Early stopping: back to the weights of the best validation score."""
        if self.validation is not None:
            with net.backend.context():
                net.set_flat(self.est._best_theta)

    def _count_no_improvement(self, net):
        est = self.est
        if self.validation is None:
            if est.loss_curve_[-1] > est.best_loss_ - est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            est.best_loss_ = min(est.best_loss_, est.loss_curve_[-1])
            return
        X_val, y_val, sample_weight_val = self.validation
        score = est._validation_score(to_host(net.predict(X_val)), y_val, sample_weight_val)
        est.validation_scores_.append(score)
        if est.verbose:
            print("Validation score: %f" % score)
        if score < est.best_validation_score_ + est.tol:
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        if score > est.best_validation_score_:
            est.best_validation_score_ = score
            est._best_theta = net.get_flat()      # a device copy, no host transfer

    def _stops(self, ops) -> bool:
        """After too many epochs without improvement: stop, or (adaptive) divide γ by 5."""
        est = self.est
        what = "Validation score did not improve" if self.validation is not None else \
            "Training loss did not improve"
        message = "%s more than tol=%f for %d consecutive epochs." % (
            what, est.tol, est.n_iter_no_change)
        if est.solver != "sgd" or est.learning_rate != "adaptive":
            if est.verbose:
                print(message + " Stopping.")
            return True
        rate = self.optimizer.lr
        if rate.value <= 1e-6:
            if est.verbose:
                print(message + " Learning rate too small. Stopping.")
            return True
        rate.set(rate.value / 5.0, self.optimizer, ops)
        if est.verbose:
            print(message + " Setting learning rate to %f" % rate.value)
        return False
