"""Gradient-descent optimizers: the parameter update (6.21), (6.23).

An optimizer's ``step(net, grads)`` takes the per-layer (dW, db) of Algorithm 6.1 and
updates every layer's W and b. Updates build new arrays (``W = W − γ dW``) rather than
writing in place, so backends with immutable arrays (JAX) are correct too.
"""

from __future__ import annotations

import math
import numbers

from .errors import BackpropError, BackpropTypeError


def check_number(name, value, ok, expected):
    """Raise unless ``value`` is a finite real number (not bool) with ``ok(value)``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise BackpropTypeError(f"{name} must be {expected}; got {type(value).__name__} {value!r}")
    if not math.isfinite(value) or not ok(value):
        raise BackpropError(f"{name} must be {expected}; got {value!r}")


class SGD:
    """(Stochastic) gradient descent θ ← θ − γ dθ (6.21, 6.23a–b), optionally with momentum.

    With momentum μ > 0 (heavy ball): v ← μ v + dθ, θ ← θ − γ v. ``weight_decay`` = λ is
    not applied here: `fit` passes it to `Sequential.backprop`, which adds λW to dW and
    λ/2‖W‖² to J (seed 000's L2 term), so the reported cost is the one being minimised.
    """

    def __init__(self, lr=0.01, momentum=0.0, weight_decay=0.0):
        check_number("lr", lr, lambda v: v > 0, "a number > 0")
        check_number("momentum", momentum, lambda v: 0 <= v < 1, "a number in [0, 1)")
        check_number("weight_decay", weight_decay, lambda v: v >= 0, "a number >= 0")
        # Python floats: a NumPy float64 scalar would promote float32 parameters.
        self.lr, self.momentum, self.weight_decay = float(lr), float(momentum), float(weight_decay)
        self.velocity = None

    def step(self, net, grads):
        """Update every layer's (W, b) from its gradients (dW, db)."""
        if self.momentum:
            if self.velocity is None:
                self.velocity = grads
            else:
                self.velocity = [(self.momentum * vW + dW, self.momentum * vb + db)
                                 for (vW, vb), (dW, db) in zip(self.velocity, grads)]
            grads = self.velocity
        for layer, (dW, db) in zip(net.layers, grads):
            layer.W = layer.W - self.lr * dW
            layer.b = layer.b - self.lr * db

    def __repr__(self):
        return f"SGD(lr={self.lr}, momentum={self.momentum}, weight_decay={self.weight_decay})"


OPTIMIZERS = {"sgd": SGD}


def get(optimizer):
    """Look up an optimizer by name (with its default settings) or pass one through."""
    if isinstance(optimizer, str) and optimizer.lower() in OPTIMIZERS:
        return OPTIMIZERS[optimizer.lower()]()
    if isinstance(optimizer, str):
        raise BackpropError(
            f"optimizer must be an optimizer object or one of {', '.join(OPTIMIZERS)}; "
            f"got {optimizer!r}")
    if not callable(getattr(optimizer, "step", None)):
        raise BackpropTypeError(
            f"optimizer must have a step(net, grads) method (e.g. bp.SGD(lr=0.1)); "
            f"got {type(optimizer).__name__}")
    return optimizer
