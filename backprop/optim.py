"""Gradient-descent optimizers: the parameter update (6.21), (6.23).

An optimizer's ``step(net, grads)`` takes the per-layer (dW, db) of Algorithm 6.1 and
updates every layer's W and b. Updates build new arrays (``W = W − γ dW``) rather than
writing in place, so backends with immutable arrays (JAX) are correct too.

The learning rate γ is a number or a schedule: a callable of the optimizer's step
count t = 0, 1, 2, … (`StepDecay`, `Cosine`), evaluated on the host (a Python float,
no device read). ``weight_decay`` is never applied by the optimizer itself: `fit`
passes it to `Sequential.backprop`, which adds λW to dW and λ/2‖W‖² to J (seed 000's
L2 term), so every optimizer minimises the reported cost. It is a number λ, or a
callable of the mini-batch's total sample weight Σw_b (its sample count without
weights) returning λ for that batch, evaluated by `fit` on the host:
`BatchScaledDecay` (scikit-learn's ``alpha``) is one.
"""

from __future__ import annotations

import math

from .errors import BackpropError, BackpropTypeError, check_number


class StepDecay:
    """γ_t = γ₀ · factor^⌊t / every⌋: the rate drops by ``factor`` every ``every`` steps."""

    def __init__(self, lr, every, factor=0.1):
        check_number("lr", lr, lambda v: v > 0, "a number > 0")
        check_number("every", every, lambda v: isinstance(v, int) and v >= 1, "an int >= 1")
        check_number("factor", factor, lambda v: 0 < v <= 1, "a number in (0, 1]")
        self.lr, self.every, self.factor = lr, every, factor

    def __call__(self, t: int) -> float:
        return self.lr * self.factor ** (t // self.every)

    def __repr__(self):
        return f"StepDecay(lr={self.lr}, every={self.every}, factor={self.factor})"


class Cosine:
    """γ_t = γ_min + ½(γ₀ − γ_min)(1 + cos(π·min(t, T)/T)): from γ₀ down to γ_min over T steps."""

    def __init__(self, lr, steps, lr_min=0.0):
        check_number("lr", lr, lambda v: v > 0, "a number > 0")
        check_number("steps", steps, lambda v: isinstance(v, int) and v >= 1, "an int >= 1")
        check_number("lr_min", lr_min, lambda v: 0 <= v <= lr, f"a number in [0, lr={lr}]")
        self.lr, self.steps, self.lr_min = lr, steps, lr_min

    def __call__(self, t: int) -> float:
        progress = min(t, self.steps) / self.steps
        return self.lr_min + 0.5 * (self.lr - self.lr_min) * (1 + math.cos(math.pi * progress))

    def __repr__(self):
        return f"Cosine(lr={self.lr}, steps={self.steps}, lr_min={self.lr_min})"


class BatchScaledDecay:
    """λ_b = alpha / Σw_b: scikit-learn's L2 convention, as an optimizer's ``weight_decay``.

    scikit-learn's MLP adds ½·alpha·‖W‖² to the *summed* cost of a mini-batch before
    dividing by the batch size n_b (by the batch's total sample weight Σw_b with sample
    weights): J = (Σᵢ wᵢLᵢ + ½·alpha·Σₗ‖W⁽ˡ⁾‖²)/Σw_b. On `backprop`'s mean cost that is
    λ_b = alpha/Σw_b, which changes with the batch: `fit` calls this object on the host
    with each batch's Σw_b (the shorter last batch of an epoch gets a larger λ). A batch
    of total weight 0 gets λ = 0 (it makes no step of its own).
    """

    def __init__(self, alpha):
        check_number("alpha", alpha, lambda v: v >= 0, "a number >= 0")
        self.alpha = float(alpha)

    def __call__(self, total_weight: float) -> float:
        return self.alpha / total_weight if total_weight > 0 else 0.0

    def __repr__(self):
        return f"BatchScaledDecay(alpha={self.alpha})"


def check_weight_decay(weight_decay):
    """``weight_decay`` as stored: a float λ >= 0, or a callable of the batch's Σw (host)."""
    if callable(weight_decay):
        return weight_decay
    check_number("weight_decay", weight_decay, lambda v: v >= 0, "a number >= 0")
    # A Python float: a NumPy float64 scalar would promote float32 parameters.
    return float(weight_decay)


def decay_for(weight_decay, total_weight: float) -> float:
    """λ for a batch of total sample weight ``total_weight`` (host float)."""
    return float(weight_decay(total_weight)) if callable(weight_decay) else weight_decay


class Optimizer:
    """Common part: the learning rate (number or schedule), λ, the step count t and state."""

    buffers = ()

    def __init__(self, lr, weight_decay):
        if not callable(lr):
            check_number("lr", lr, lambda v: v > 0, "a number > 0 or a schedule")
        # Python floats: a NumPy float64 scalar would promote float32 parameters.
        self.lr = lr if callable(lr) else float(lr)
        self.weight_decay = check_weight_decay(weight_decay)
        self.t = 0
        for name in self.buffers:
            setattr(self, name, None)

    def rate(self) -> float:
        """γ for the current step t (the schedule's value, or the constant rate)."""
        return float(self.lr(self.t)) if callable(self.lr) else self.lr

    def step(self, net, grads):
        """Update every layer's (W, b) from its gradients (dW, db); then t ← t + 1."""
        flat = [g for pair in grads for g in pair]
        deltas = self.deltas(net.xp, flat, self.rate())
        params = [p for layer in net.layers for p in (layer.W, layer.b)]
        for l, layer in enumerate(net.layers):
            layer.W = params[2 * l] - deltas[2 * l]
            layer.b = params[2 * l + 1] - deltas[2 * l + 1]
        self.t += 1

    def state_dict(self):
        """``(scalars, buffers)``: the step count and the per-parameter buffers (W1, b1, …)."""
        buffers = {name: getattr(self, name) for name in self.buffers
                   if getattr(self, name) is not None}
        return {"t": self.t}, buffers

    def load_state_dict(self, state):
        """Restore what `state_dict` returned (arrays already on the model's device)."""
        scalars, buffers = state
        self.t = int(scalars["t"])
        for name in self.buffers:
            setattr(self, name, list(buffers[name]) if name in buffers else None)


class SGD(Optimizer):
    """(Stochastic) gradient descent θ ← θ − γ dθ (6.21, 6.23a–b), optionally with momentum.

    With momentum μ > 0 (heavy ball): v ← μ v + dθ, θ ← θ − γ v. With ``nesterov=True``
    the step looks ahead along the velocity: v ← μ v + dθ, θ ← θ − γ (dθ + μ v).
    """

    buffers = ("velocity",)

    def __init__(self, lr=0.01, momentum=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(lr, weight_decay)
        check_number("momentum", momentum, lambda v: 0 <= v < 1, "a number in [0, 1)")
        if nesterov and not momentum:
            raise BackpropError("nesterov=True needs momentum > 0")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def deltas(self, xp, grads, lr):
        if not self.momentum:
            return [lr * g for g in grads]
        mu = self.momentum
        if self.velocity is None:
            self.velocity = grads
        else:
            self.velocity = [mu * v + g for v, g in zip(self.velocity, grads)]
        if self.nesterov:
            return [lr * (g + mu * v) for v, g in zip(self.velocity, grads)]
        return [lr * v for v in self.velocity]

    def __repr__(self):
        return (f"SGD(lr={self.lr}, momentum={self.momentum}, weight_decay={self.weight_decay}"
                f"{', nesterov=True' if self.nesterov else ''})")


class Adam(Optimizer):
    """Adam (Kingma & Ba): moment estimates with bias correction, per parameter.

    m ← β₁m + (1 − β₁)dθ, v ← β₂v + (1 − β₂)dθ², then at step t = 1, 2, …
    θ ← θ − γ m̂ / (√v̂ + ε) with m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ). λ enters through
    dθ (L2 regularisation of the cost), not as decoupled decay.

    ``eps_hat=True`` is the paper's reordered form (Kingma & Ba, end of §2), used by
    scikit-learn and TensorFlow: θ ← θ − γ·√(1 − β₂ᵗ)/(1 − β₁ᵗ) · m / (√v + ε), i.e.
    ε is added to √v instead of √v̂ (the same update with ε replaced by ε√(1 − β₂ᵗ)).
    """

    buffers = ("m", "v")

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                 eps_hat=False):
        super().__init__(lr, weight_decay)
        for name, value in (("beta1", beta1), ("beta2", beta2)):
            check_number(name, value, lambda v: 0 <= v < 1, "a number in [0, 1)")
        check_number("eps", eps, lambda v: v > 0, "a number > 0")
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.eps_hat = bool(eps_hat)

    def deltas(self, xp, grads, lr):
        b1, b2 = self.beta1, self.beta2
        if self.m is None:
            self.m = [(1 - b1) * g for g in grads]
            self.v = [(1 - b2) * (g * g) for g in grads]
        else:
            self.m = [b1 * m + (1 - b1) * g for m, g in zip(self.m, grads)]
            self.v = [b2 * v + (1 - b2) * (g * g) for v, g in zip(self.v, grads)]
        t = self.t + 1
        c1, c2 = 1 - b1 ** t, 1 - b2 ** t
        if self.eps_hat:
            rate = lr * math.sqrt(c2) / c1
            return [rate * m / (xp.sqrt(v) + self.eps) for m, v in zip(self.m, self.v)]
        return [(lr / c1) * m / (xp.sqrt(v / c2) + self.eps) for m, v in zip(self.m, self.v)]

    def __repr__(self):
        return (f"Adam(lr={self.lr}, beta1={self.beta1}, beta2={self.beta2}, eps={self.eps}, "
                f"weight_decay={self.weight_decay}{', eps_hat=True' if self.eps_hat else ''})")


OPTIMIZERS = {"sgd": SGD, "nesterov": SGD, "adam": Adam}


def get(optimizer, **kwargs):
    """An optimizer object passed through, or one by name built with ``kwargs``:
    ``"sgd"``, ``"nesterov"`` (SGD with nesterov=True, momentum 0.9) or ``"adam"``."""
    if not isinstance(optimizer, str):
        if not callable(getattr(optimizer, "step", None)):
            raise BackpropTypeError(
                f"optimizer must have a step(net, grads) method (e.g. bp.SGD(lr=0.1)) or be "
                f"one of {', '.join(OPTIMIZERS)}; got {type(optimizer).__name__}")
        return optimizer
    name = optimizer.lower()
    if name not in OPTIMIZERS:
        raise BackpropError(
            f"optimizer must be an optimizer object or one of {', '.join(OPTIMIZERS)}; "
            f"got {optimizer!r}")
    if name == "nesterov":
        kwargs = {"momentum": 0.9, **kwargs, "nesterov": True}
    try:
        return OPTIMIZERS[name](**kwargs)
    except TypeError as exc:
        raise BackpropError(f"optimizer {name!r}: {exc}") from None
