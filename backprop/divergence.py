"""Divergence guard for `fit`: stop when the cost J(θ) becomes NaN or Inf.

Checking J after every mini-batch would read a value back from the device at every
iteration, a host sync that stalls a GPU. The guard avoids that:

* it keeps a device-side copy of θ from the start of the epoch (one copy per epoch,
  asynchronous, no read-back);
* at the end of the epoch, where `fit` reads the epoch's costs back anyway, it looks
  for the first non-finite cost, copies θ (the next epoch's starting point) and checks
  that this copy is finite (one extra 0-d read per epoch);
* if not, it restores the copy from the start of the epoch, the last θ known to be
  finite, and raises `DivergenceError` naming the epoch and iteration where J first
  stopped being finite.

The price is that a diverging epoch runs to its end before it is stopped; its
iterations are wasted but cannot damage the restored model. (The alternative, guarding
every update with ``xp.where`` on the device, would add several kernels to every step.)
The optimizer's state (e.g. momentum) is not restored: retry with a new optimizer.
"""

from __future__ import annotations

import math

from .errors import DivergenceError


class Guard:
    """A device copy of ``net``'s θ at the start of the current epoch, and the check at
    its end; create it before the first epoch and call `check` after each."""

    def __init__(self, net):
        self.net = net
        self.theta = net.get_flat()             # a copy: training updates θ in place

    def check(self, history, n_iterations: int, epoch: int, optimizer):
        """Raise `DivergenceError` (after restoring θ) if the epoch that just ended diverged;
        else keep θ as the next epoch's starting point.

        ``history.cost`` already holds the epoch's ``n_iterations`` costs on the host;
        ``epoch`` counts from 0.
        """
        costs = history.cost[len(history.cost) - n_iterations:]
        bad = next((i for i, J in enumerate(costs) if not math.isfinite(J)), None)
        theta = self.net.get_flat()
        xp = self.net.xp
        if bad is None and bool(xp.all(xp.isfinite(theta))):
            self.theta = theta
            return
        first = len(history.cost) - n_iterations + 1
        if bad is None:
            iteration = first + n_iterations - 1
            what = f"the parameters became NaN/Inf in the update of iteration {iteration}"
        else:
            iteration = first + bad
            what = f"the cost became {costs[bad]} at iteration {iteration}"
        self.net.set_flat(self.theta)
        lr = getattr(optimizer, "lr", None)
        advice = f"a smaller learning rate than lr={lr}" if lr is not None else \
            "a smaller learning rate"
        raise DivergenceError(
            f"training diverged: {what} (epoch {epoch + 1}); the model was restored to its "
            f"weights at the start of epoch {epoch + 1}, the last ones known to be finite. "
            f"Try {advice}, or scale the inputs.",
            epoch=epoch + 1, iteration=iteration, history=history)
