"""Divergence guard for `fit`: stop when the cost J(θ) becomes NaN or Inf.

Checking J after every mini-batch would read a value back from the device at every
iteration, a host sync that stalls a GPU. The guard avoids that:

* at the start of each epoch it keeps a device-side copy of θ (one copy per epoch,
  asynchronous, no read-back);
* at the end of the epoch, where `fit` reads the epoch's costs back anyway, it looks
  for the first non-finite cost and checks that θ itself is still finite (one extra
  0-d read per epoch);
* if not, it restores the copy, the last θ known to be finite, and raises
  `DivergenceError` naming the epoch and iteration where J first stopped being finite.

The price is that a diverging epoch runs to its end before it is stopped; its
iterations are wasted but cannot damage the restored model. (The alternative, guarding
every update with ``xp.where`` on the device, would add several kernels to every step.)
The optimizer's state (e.g. momentum) is not restored: retry with a new optimizer.
"""

from __future__ import annotations

import math

from .errors import DivergenceError


class Guard:
    """A device copy of ``net``'s θ taken at the start of an epoch, and the check at its end."""

    def __init__(self, net):
        self.net = net
        self.theta = net.get_flat()             # a copy: the NumPy fast path updates in place

    def check(self, history, n_iterations: int, epoch: int, optimizer):
        """Raise `DivergenceError` (after restoring θ) if the epoch that just ended diverged.

        ``history.cost`` already holds the epoch's ``n_iterations`` costs on the host;
        ``epoch`` counts from 0.
        """
        costs = history.cost[len(history.cost) - n_iterations:]
        bad = next((i for i, J in enumerate(costs) if not math.isfinite(J)), None)
        if bad is None and _finite(self.net):
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


def _finite(net) -> bool:
    """True if every parameter of ``net`` is finite (one read-back)."""
    xp = net.xp
    flags = [xp.all(xp.isfinite(p)) for layer in net.layers for p in (layer.W, layer.b)]
    return bool(xp.all(xp.stack(flags)))
