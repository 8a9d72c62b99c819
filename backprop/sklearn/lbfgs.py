"""The ``lbfgs`` solver: SciPy's L-BFGS-B on the parameter vector θ (6.17).

The cost is scikit-learn's: the (weighted) mean loss over the whole training set plus
½·alpha·Σₗ‖W⁽ˡ⁾‖²/Σw, i.e. `backprop`'s J(θ) with λ = `PerSample(alpha)` of the
full batch; J and ∇θJ come from Algorithm 6.1 (`Sequential.gradients`) on the model's
device. SciPy's L-BFGS-B runs on the host in float64, so every evaluation moves θ to
the device and J, ∇θJ back: one round trip per evaluation (at most ``max_fun``), each
a full pass over the data.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize

from ..device import to_host
from ..optim import PerSample


def fit_lbfgs(net, loss, X, T, sample_weight, alpha, max_iter, max_fun, tol):
    """Minimise J(θ) from ``net``'s current θ; leave θ* in ``net``; return SciPy's result.

    ``sample_weight`` is a host array or None; ``max_iter``, ``max_fun`` and ``tol`` are
    L-BFGS-B's ``maxiter``, ``maxfun`` and ``gtol`` (as scikit-learn passes them).
    """
    with net.backend.context():
        X = net.inputs(X)
        T = net.targets(T, loss, X.shape[0])
        s = None if sample_weight is None else net.sample_weights(sample_weight, X.shape[0])
        weights = None if s is None else s / net.xp.sum(s)
        total = X.shape[0] if sample_weight is None else float(np.sum(sample_weight))
        decay = PerSample(alpha)(total)

        def cost_and_gradient(theta):
            net.set_flat(theta)
            J, grads, _ = net.gradients(X, T, loss, decay, weights)
            return float(to_host(J)), to_host(net.flatten(grads)).astype(np.float64)

        result = scipy.optimize.minimize(
            cost_and_gradient, to_host(net.get_flat()).astype(np.float64), method="L-BFGS-B",
            jac=True, options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol})
        net.set_flat(result.x)
    return result
