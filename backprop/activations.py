"""Activation functions h and their use in the backward pass, eq. (6.27a).

Each `Activation` maps the pre-activation ``Z`` to ``Q = h(Z)`` (6.24b) and, in the
backward pass, the incoming gradient ``dQ`` to ``dZ = dQ ⊙ h′(Z)`` (6.27a). The
backward step receives both ``Z`` and the cached ``Q``, so h′ can be written from
whichever is cheaper (σ′ = Q(1 − Q), tanh′ = 1 − Q²). Softmax acts on whole rows,
so its backward step is the Jacobian-vector product rather than an element-wise h′.

All functions take the namespace ``xp`` of their arrays: no NumPy in here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from .errors import BackpropError, BackpropTypeError


@dataclass(frozen=True)
class Activation:
    """h and its backward step. ``forward(xp, Z) → Q``; ``backward(xp, dQ, Z, Q) → dZ``."""

    name: str
    forward: Callable
    backward: Callable

    def __repr__(self):
        return f"Activation({self.name!r})"

    def __reduce__(self):
        """Pickle a built-in activation by name; a custom (h, dh) pair holds code: refused."""
        if ACTIVATIONS.get(self.name) is not self:
            raise BackpropError(
                f"the custom activation {self.name!r} cannot be pickled (its functions are "
                f"code); use one of {', '.join(sorted(ACTIVATIONS))}")
        return get, (self.name,)


def sigmoid(xp, Z):
    """σ(z) = 1/(1 + e^(−z)), evaluated without overflow: e^(−|z|) is at most 1."""
    e = xp.exp(-xp.abs(Z))
    return xp.where(Z >= 0, 1 / (1 + e), e / (1 + e))


def softmax(xp, Z):
    """Row-wise softmax (6.15), shifted by the row maximum so exp never overflows."""
    E = xp.exp(Z - xp.max(Z, axis=1, keepdims=True))
    return E / xp.sum(E, axis=1, keepdims=True)


def _arctan_backward(xp, dQ, Z, Q):
    """dQ ⊙ σ′(Z) with σ′(z) = 1/(π(1 + z²)) (seed 004, eq. 6.27a).

    z is clipped to ±1e18 first so that z² cannot overflow in float32: exact up to there,
    and beyond it σ′ is ≤ 3.2e-37 instead of smaller still.
    """
    Zc = xp.clip(Z, -1e18, 1e18)
    return dQ / (math.pi * (1 + Zc * Zc))


def _relu_backward(xp, dQ, Z, Q):
    """dQ ⊙ 𝕀{Z > 0} as a product with the mask: three times faster than ``where`` on NumPy
    and the same for finite dQ (an infinite dQ has diverged anyway)."""
    return dQ * xp.astype(Z > 0, dQ.dtype)


def _softmax_backward(xp, dQ, Z, Q):
    """dZ = Q ⊙ (dQ − ⟨dQ, Q⟩): the softmax Jacobian diag(q) − q qᵀ applied row by row."""
    return Q * (dQ - xp.sum(dQ * Q, axis=1, keepdims=True))


IDENTITY = Activation("identity", lambda xp, Z: Z, lambda xp, dQ, Z, Q: dQ)

ACTIVATIONS = {
    a.name: a
    for a in (
        IDENTITY,
        Activation("relu", lambda xp, Z: xp.maximum(Z, 0.0), _relu_backward),
        Activation("sigmoid", sigmoid, lambda xp, dQ, Z, Q: dQ * (Q * (1 - Q))),
        Activation("tanh", lambda xp, Z: xp.tanh(Z), lambda xp, dQ, Z, Q: dQ * (1 - Q * Q)),
        # Seed 004: σ(x) = arctan(x)/π + 1/2, σ′(x) = 1/(π(1 + x²)).
        Activation("arctan", lambda xp, Z: xp.atan(Z) / math.pi + 0.5, _arctan_backward),
        Activation("softmax", softmax, _softmax_backward),
    )
}
ALIASES = {"linear": "identity", "none": "identity", "logistic": "sigmoid"}


def get(activation) -> Activation:
    """Look up an activation by name, pass an `Activation` through, or wrap a pair.

    A user-defined activation is a pair ``(h, dh)`` of element-wise functions of an
    array ``Z`` (written with the array's own methods/namespace): ``h(Z)`` and its
    derivative ``dh(Z)``; the backward step is then ``dQ ⊙ dh(Z)`` (6.27a).
    """
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, tuple) and len(activation) == 2 and all(map(callable, activation)):
        h, dh = activation
        name = getattr(h, "__name__", "custom")
        return Activation(name, lambda xp, Z: h(Z), lambda xp, dQ, Z, Q: dQ * dh(Z))
    if activation is None:
        return IDENTITY
    if isinstance(activation, str):
        key = ALIASES.get(activation.lower(), activation.lower())
        if key in ACTIVATIONS:
            return ACTIVATIONS[key]
        raise BackpropError(
            f"activation must be one of {', '.join(sorted(ACTIVATIONS))} (or None for identity); "
            f"got {activation!r}")
    raise BackpropTypeError(
        f"activation must be a name, an Activation or a (function, derivative) pair; "
        f"got {type(activation).__name__}")
