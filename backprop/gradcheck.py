"""Gradient check: backpropagation against central finite differences.

For each parameter θᵢ, the numerical derivative is (J(θ + εeᵢ) − J(θ − εeᵢ)) / 2ε,
with an error of O(ε²); it is compared with the i-th entry of ∇θJ from Algorithm 6.1
(line 21). Run it in float64: in float32 the rounding error of J swamps the check.
"""

from __future__ import annotations

from . import losses as _losses
from .device import Random, to_host
from .errors import BackpropError
from .optim import check_number


def gradcheck(net, loss, X, y, weight_decay=0.0, eps=None, max_params=None, seed=0) -> float:
    """Maximum relative error between backprop's gradient and central differences.

    The relative error of entry i is |aᵢ − nᵢ| / max(|aᵢ|, |nᵢ|, 10⁻³·maxⱼ|nⱼ|): entries
    a thousand times smaller than the largest derivative are judged against that scale
    instead of their own (where rounding would dominate). ``eps`` defaults to the cube
    root of the dtype's machine epsilon; ``max_params`` checks a random subset (from
    ``seed``) of that many parameters instead of all. The network is left as it was.
    """
    loss = _losses.get(loss)
    check_number("weight_decay", weight_decay, lambda v: v >= 0, "a number >= 0")
    if eps is not None:
        check_number("eps", eps, lambda v: v > 0, "a number > 0 (or None for the default)")
    if max_params is not None and (isinstance(max_params, bool) or not isinstance(max_params, int)
                                   or max_params < 1):
        raise BackpropError(f"max_params must be a positive int or None; got {max_params!r}")
    xp = net.xp
    with net.backend.context():
        X = net.inputs(X)
        T = net.targets(y, loss, X.shape[0])
        theta = net.get_flat()
        weight_decay = float(weight_decay)
        J, grads, _ = net.gradients(X, T, loss, weight_decay)
        analytic = net.flatten(grads)
        eps = eps or float(xp.finfo(net.dtype).eps) ** (1 / 3)
        n = net.n_params
        index = range(n) if max_params is None or max_params >= n else \
            Random(seed).permutation(n)[:max_params].tolist()
        positions = xp.arange(n, device=net.device)
        numeric = []
        try:
            for i in index:
                e = xp.astype(positions == i, net.dtype) * eps
                net.set_flat(theta + e)
                J_plus = net.gradients(X, T, loss, weight_decay)[0]
                net.set_flat(theta - e)
                J_minus = net.gradients(X, T, loss, weight_decay)[0]
                numeric.append((J_plus - J_minus) / (2 * eps))
        finally:
            net.set_flat(theta)
        a = xp.take(analytic, net.backend.asarray(list(index), name="index"), axis=0)
        num = xp.stack(numeric)
        scale = xp.maximum(xp.maximum(xp.abs(a), xp.abs(num)), 1e-3 * xp.max(xp.abs(num)))
        scale = xp.where(scale > 0, scale, 1.0)
        return float(to_host(xp.max(xp.abs(a - num) / scale)))
