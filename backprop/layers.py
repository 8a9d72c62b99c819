"""The Dense layer: Z = Q Wᵀ + bᵀ (Algorithm 6.1 line 4), followed by its activation h.

Weights follow seed 001: ``W`` has shape (out, in) (6.7), ``b`` shape (out,), samples
are rows of Q and Z (6.28). A layer is created without arrays; `Sequential` gives it
its parameters on the model's device with `Dense.initialize`.
"""

from __future__ import annotations

import math

from . import activations
from .errors import BackpropError, BackpropTypeError, is_int


class Dense:
    """A fully connected layer with ``n_in`` inputs, ``n_out`` units and activation h."""

    def __init__(self, n_in: int, n_out: int, activation=None):
        for name, n in (("n_in", n_in), ("n_out", n_out)):
            if not is_int(n):
                raise BackpropTypeError(f"Dense {name} must be an int; got {type(n).__name__} {n!r}")
            if n < 1:
                raise BackpropError(f"Dense {name} must be a positive number of units; got {n}")
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.activation = activations.get(activation)
        self.W = self.b = None

    @property
    def n_params(self) -> int:
        """Number of parameters: n_out·n_in weights plus n_out biases."""
        return self.n_out * self.n_in + self.n_out

    def initialize(self, backend, dtype, rng):
        """Small random weights scaled to the fan (6.21 step 1): He for ReLU, Glorot otherwise.

        He: W ~ N(0, 2/n_in); Glorot: W ~ U(−a, a) with a = √(6/(n_in + n_out)); b = 0.
        Drawn on the host from ``rng``, so every backend starts from the same θ₀.
        """
        shape = (self.n_out, self.n_in)
        if self.activation.name == "relu":
            W = rng.normal(math.sqrt(2 / self.n_in), shape)
        else:
            W = rng.uniform(math.sqrt(6 / (self.n_in + self.n_out)), shape)
        self.W = backend.asarray(W, name="W", dtype=dtype)
        self.b = backend.xp.zeros(self.n_out, dtype=dtype, device=backend.device)

    def forward(self, ops, Q, out=None):
        """Pre-activation Z = Q Wᵀ + bᵀ (Algorithm 6.1 line 4; 6.14 with samples in rows)."""
        Z = ops.gemm(Q, self.W, trans_b=True, out=out)
        return ops.add_bias(Z, self.b, out=Z)

    def __repr__(self):
        return f"Dense({self.n_in}, {self.n_out}, activation={self.activation.name!r})"
