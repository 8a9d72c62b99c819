"""Gradient check: backpropagation against central finite differences.

For each parameter θᵢ, the numerical derivative is the fourth-order central difference

    nᵢ = [8(J(θ + εeᵢ) − J(θ − εeᵢ)) − (J(θ + 2εeᵢ) − J(θ − 2εeᵢ))] / 12ε,

whose truncation error is O(ε⁴) (the two-point (J(θ + εeᵢ) − J(θ − εeᵢ))/2ε is O(ε²)),
so ε can be large enough that rounding in J stays far below the gradients; nᵢ is
compared with the i-th entry of ∇θJ from Algorithm 6.1 (line 21). Run it in float64:
in float32 the rounding error of J swamps any check.
"""

from __future__ import annotations

from . import losses as _losses
from .device import Random, to_host
from .errors import BackpropError, check_number, is_int


def gradcheck(net, loss, X, y, weight_decay=0.0, eps=None, max_params=None, seed=0) -> float:
    """Maximum relative error between backprop's gradient and central differences.

    The relative error of entry i is |aᵢ − nᵢ| / max(|aᵢ|, |nᵢ|, 10⁻³·maxⱼ|nⱼ|): entries
    a thousand times smaller than the largest derivative are judged against that scale
    instead of their own (where rounding would dominate). ``eps`` defaults to the fifth
    root of the dtype's machine epsilon (7·10⁻⁴ in float64); ``max_params`` checks a random subset (from
    ``seed``) of that many parameters instead of all. The network is left as it was.
    """
    loss = _losses.get(loss)
    check_number("weight_decay", weight_decay, lambda v: v >= 0, "a number >= 0")
    if eps is not None:
        check_number("eps", eps, lambda v: v > 0, "a number > 0 (or None for the default)")
    if max_params is not None and (not is_int(max_params) or max_params < 1):
        raise BackpropError(f"max_params must be a positive int or None; got {max_params!r}")
    xp = net.xp
    with net.backend.context():
        X = net.inputs(X)
        T = net.targets(y, loss, X.shape[0])
        theta = net.get_flat()
        weight_decay = float(weight_decay)
        grads = net.gradients(X, T, loss, weight_decay)[1]
        analytic = net.flatten(grads)
        eps = eps or float(xp.finfo(net.dtype).eps) ** (1 / 5)
        n = net.n_params
        index = range(n) if max_params is None or max_params >= n else \
            Random(seed).permutation(n)[:max_params].tolist()
        positions = xp.arange(n, device=net.device)
        def difference(step):
            """J(θ + step) − J(θ − step)."""
            net.set_flat(theta + step)
            J_plus = net.gradients(X, T, loss, weight_decay)[0]
            net.set_flat(theta - step)
            return J_plus - net.gradients(X, T, loss, weight_decay)[0]

        numeric = []
        try:
            for i in index:
                e = xp.astype(positions == i, net.dtype) * eps
                numeric.append((8 * difference(e) - difference(2 * e)) / (12 * eps))
        finally:
            net.set_flat(theta)
        a = xp.take(analytic, net.backend.asarray(list(index), name="index"), axis=0)
        num = xp.stack(numeric)
        scale = xp.maximum(xp.maximum(xp.abs(a), xp.abs(num)), 1e-3 * xp.max(xp.abs(num)))
        scale = xp.where(scale > 0, scale, 1.0)
        return float(to_host(xp.max(xp.abs(a - num) / scale)))
