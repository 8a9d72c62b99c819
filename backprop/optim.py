"""Gradient-descent optimizers: the parameter update (6.21), (6.23).

An optimizer's update is written once on the backend operations (`backprop.ops`:
``sgd_update``, ``momentum_update``, ``adam_update``), for any list of arrays.
``step(net, grads)`` applies it parameter by parameter with the reference operations,
which build new arrays: nothing a caller holds (the model's arrays, the gradients) is
written. `fit` applies the same update with the model's own operations: on NumPy and
CuPy to all of θ at once (``apply_flat``: θ, its gradient and the state are flat
buffers of which the per-parameter arrays are views), in place on arrays it owns
(`backprop.step`); elsewhere parameter by parameter (``apply``). Plain SGD can say more: its update θ ← θ − γ dθ may be taken inside
the backward pass itself (``fusable_rate``; see `Sequential.gradients`).

The learning rate γ is a number or a schedule: a callable of the optimizer's step
count t = 0, 1, 2, … (`StepDecay`, `Cosine`), evaluated on the host (a Python float,
no device read). ``weight_decay`` is never applied by the optimizer itself: `fit`
passes it to `Sequential.gradients`, which adds λW to dW and λ/2‖W‖² to J (seed 000's
L2 term), so every optimizer minimises the reported cost. It is a number λ, or a
callable of the mini-batch's total sample weight (its size without sample weights),
such as `PerSample` for scikit-learn's convention.
"""

from __future__ import annotations

import math
import numbers

from .errors import BackpropError, BackpropTypeError, check_number, is_int
from .ops import Ops


class StepDecay:
    """γ_t = γ₀ · factor^⌊t / every⌋: the rate drops by ``factor`` every ``every`` steps."""

    def __init__(self, lr, every, factor=0.1):
        check_number("lr", lr, lambda v: v > 0, "a number > 0")
        check_number("every", every, lambda v: is_int(v) and v >= 1, "an int >= 1")
        check_number("factor", factor, lambda v: 0 < v <= 1, "a number in (0, 1]")
        self.lr, self.every, self.factor = lr, int(every), factor

    def __call__(self, t: int) -> float:
        return self.lr * self.factor ** (t // self.every)

    def __repr__(self):
        return f"StepDecay(lr={self.lr}, every={self.every}, factor={self.factor})"


class Cosine:
    """γ_t = γ_min + ½(γ₀ − γ_min)(1 + cos(π·min(t, T)/T)): from γ₀ down to γ_min over T steps."""

    def __init__(self, lr, steps, lr_min=0.0):
        check_number("lr", lr, lambda v: v > 0, "a number > 0")
        check_number("steps", steps, lambda v: is_int(v) and v >= 1, "an int >= 1")
        check_number("lr_min", lr_min, lambda v: 0 <= v <= lr, f"a number in [0, lr={lr}]")
        self.lr, self.steps, self.lr_min = lr, int(steps), lr_min

    def __call__(self, t: int) -> float:
        progress = min(t, self.steps) / self.steps
        return self.lr_min + 0.5 * (self.lr - self.lr_min) * (1 + math.cos(math.pi * progress))

    def __repr__(self):
        return f"Cosine(lr={self.lr}, steps={self.steps}, lr_min={self.lr_min})"


class PerSample:
    """λ = α / Σᵢ sᵢ: an L2 penalty ½α‖W‖² on the *summed* cost of a mini-batch.

    scikit-learn's MLP adds ½·alpha·‖W‖² to the sum of the batch's (weighted) losses and
    divides everything by the batch's total sample weight Σᵢ sᵢ (its size without
    sample weights). On `backprop`'s mean cost that is λ/2‖W‖² with λ = α/Σᵢ sᵢ, which
    differs for a shorter last batch: pass ``weight_decay=PerSample(alpha)`` to get it
    exactly, batch by batch.
    """

    def __init__(self, alpha):
        check_number("alpha", alpha, lambda v: v >= 0, "a number >= 0")
        self.alpha = float(alpha)

    def __call__(self, batch_weight: float) -> float:
        """α/Σᵢ sᵢ; 0 for a batch of total weight 0 (it makes no step of its own)."""
        return self.alpha / batch_weight if batch_weight > 0 else 0.0

    def __repr__(self):
        return f"PerSample({self.alpha})"


class Optimizer:
    """Common part: the learning rate (number or schedule), λ, the step count t and state."""

    buffers = ()

    def __init__(self, lr, weight_decay):
        if not callable(lr):
            check_number("lr", lr, lambda v: v > 0, "a number > 0 or a schedule")
        if not callable(weight_decay):
            check_number("weight_decay", weight_decay, lambda v: v >= 0,
                         "a number >= 0 or a callable of the batch weight")
        # Python floats: a NumPy float64 scalar would promote float32 parameters.
        self.lr = lr if callable(lr) else float(lr)
        self.weight_decay = weight_decay if callable(weight_decay) else float(weight_decay)
        self.t = 0
        for name in self.buffers:
            setattr(self, name, None)

    def rate(self) -> float:
        """γ for the current step t (the schedule's value, or the constant rate)."""
        if not callable(self.lr):
            return self.lr
        return _positive(f"the learning-rate schedule {self.lr!r} at step t={self.t}",
                         self.lr(self.t), "a number >= 0", zero=True)

    def fusable_rate(self):
        """γ if this step's update is θ ← θ − γ dθ, which the backward pass may then take
        inside the dW product (`Sequential.gradients` with ``rate``); None otherwise."""
        return None

    def state_names(self) -> tuple:
        """The state this optimizer updates (``buffers`` it uses with its settings)."""
        return self.buffers

    def step(self, net, grads):
        """Update every layer's (W, b) from its gradients (dW, db) with new arrays (the
        reference operations: nothing the caller holds is written); then t ← t + 1."""
        self.apply(Ops(net.backend), net, grads)

    def apply(self, ops, net, grads):
        """`step` with the operations ``ops``, parameter by parameter: the buffered ones
        update the parameters and the state in place and consume ``grads``."""
        state = {name: getattr(self, name) for name in self.state_names()}
        params, state = self.update(ops, net.parameters(), [g for pair in grads for g in pair],
                                    self.rate(), state)
        for name, arrays in state.items():
            setattr(self, name, arrays)
        net.set_parameters(params)
        self.t += 1

    def apply_flat(self, ops, theta, grad, state):
        """The update of all of θ at once, in place, on buffered operations: ``theta`` and
        ``grad`` are flat buffers in θ's order (6.17), of which the layers' W and b and the
        gradients are views, and ``state`` holds one flat buffer per `state_names`, of
        which this optimizer's state lists are views (`backprop.step`)."""
        self.update(ops, [theta], [grad], self.rate(), state)
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

    def fusable_rate(self):
        return None if self.momentum else self.rate()

    def state_names(self) -> tuple:
        return ("velocity",) if self.momentum else ()

    def update(self, ops, params, grads, lr, state):
        """θ ← θ − γ dθ, or the momentum update (`ops.momentum_update`), per array of
        ``params``; ``state`` holds the velocity (None: zeros). Returns (params, state)."""
        if not self.momentum:
            return [ops.sgd_update(p, g, lr) for p, g in zip(params, grads)], state
        velocity = state["velocity"] or [ops.zeros_like(p) for p in params]
        updated = [ops.momentum_update(p, v, g, lr, self.momentum, self.nesterov)
                   for p, v, g in zip(params, velocity, grads)]
        return [p for p, _ in updated], {"velocity": [v for _, v in updated]}

    def __repr__(self):
        return (f"SGD(lr={self.lr}, momentum={self.momentum}, weight_decay={self.weight_decay}"
                f"{', nesterov=True' if self.nesterov else ''})")


class Adam(Optimizer):
    """Adam (Kingma & Ba): moment estimates with bias correction, per parameter.

    m ← β₁m + (1 − β₁)dθ, v ← β₂v + (1 − β₂)dθ², then at step t = 1, 2, …
    θ ← θ − γ m̂ / (√v̂ + ε) with m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ). λ enters through
    dθ (L2 regularisation of the cost), not as decoupled decay.

    ``eps_hat=True`` is the paper's reordered form (Kingma & Ba, end of §2), used by
    scikit-learn and TensorFlow: θ ← θ − γ·√(1 − β₂ᵗ)/(1 − β₁ᵗ) · m / (√v + ε), i.e. ε is
    added to √v instead of √v̂ — the same update with ε replaced by ε/√(1 − β₂ᵗ) in the
    form above, which is how it is computed.
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

    def update(self, ops, params, grads, lr, state):
        """`ops.adam_update` per array of ``params`` at step t + 1; ``state`` holds the
        moments m and v (None: zeros). Returns (params, state)."""
        m = state["m"] or [ops.zeros_like(p) for p in params]
        v = state["v"] or [ops.zeros_like(p) for p in params]
        t = self.t + 1
        eps = self.eps / math.sqrt(1 - self.beta2 ** t) if self.eps_hat else self.eps
        updated = [ops.adam_update(p, m_, v_, g, lr, self.beta1, self.beta2, eps, t)
                   for p, m_, v_, g in zip(params, m, v, grads)]
        return [p for p, _, _ in updated], {"m": [a for _, a, _ in updated],
                                            "v": [a for _, _, a in updated]}

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


def decay(weight_decay, batch_weight) -> float:
    """λ from a ``weight_decay`` that is a number or a callable of the mini-batch's total
    sample weight (evaluated on the host, its result checked)."""
    if not callable(weight_decay):
        return float(weight_decay)
    return _positive(f"the weight decay {weight_decay!r}", weight_decay(batch_weight),
                     "a number >= 0", zero=True)


def _positive(what, value, expected, zero=False):
    """``value`` as a float if it is a finite real number > 0 (≥ 0 with ``zero``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or value < 0 or (value == 0 and not zero):
        raise BackpropError(f"{what} must give {expected}; got {value!r}")
    return float(value)
