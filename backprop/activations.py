"""Activation functions h and their use in the backward pass, eq. (6.27a).

Each `Activation` maps the pre-activation ``Z`` to ``Q = h(Z)`` (6.24b) and, in the
backward pass, the incoming gradient ``dQ`` to ``dZ = dQ ⊙ h′(Z)`` (6.27a). The
built-in ones are operations of the backend (`backprop.ops`): ``ops.relu`` and
``ops.relu_backward``, ``ops.sigmoid`` … Their backward step reads whichever of Z and
Q gives h′ more cheaply (σ′ = Q(1 − Q), tanh′ = 1 − Q², ReLU′ = 𝕀{Q > 0}); when it
reads only Q, the forward step may overwrite Z with Q (`needs_Z` is False). Softmax acts
on whole rows, so its backward step is the Jacobian-vector product rather than an
element-wise h′.
"""

from __future__ import annotations

from .errors import BackpropError, BackpropTypeError


class Activation:
    """A built-in h: ``forward(ops, Z, out) → Q`` and ``backward(ops, dQ, Z, Q, out) → dZ``
    run the backend operations ``ops.<name>`` and ``ops.<name>_backward``."""

    def __init__(self, name, needs_Z=False):
        self.name = name
        #: True if h′ is computed from Z, so Z must survive the forward pass
        self.needs_Z = needs_Z

    def forward(self, ops, Z, out=None):
        """Q = h(Z) (6.24b, Algorithm 6.1 line 5)."""
        return getattr(ops, self.name)(Z, out=out)

    def backward(self, ops, dQ, Z, Q, out=None):
        """dZ = dQ ⊙ h′(Z) (6.27a, line 16)."""
        return getattr(ops, self.name + "_backward")(dQ, Z if self.needs_Z else Q, out=out)

    def __reduce__(self):
        return get, (self.name,)

    def __repr__(self):
        return f"Activation({self.name!r})"


class Identity(Activation):
    """h(z) = z: the output layer of a regression, or of logits."""

    def __init__(self):
        super().__init__("identity")

    def forward(self, ops, Z, out=None):
        return Z

    def backward(self, ops, dQ, Z, Q, out=None):
        return dQ


class Custom(Activation):
    """A user's element-wise pair: ``h(Z)`` and its derivative ``dh(Z)``, written with the
    array's own operators or namespace; the backward step is dQ ⊙ dh(Z) (6.27a)."""

    def __init__(self, h, dh):
        super().__init__(getattr(h, "__name__", "custom"), needs_Z=True)
        self.h, self.dh = h, dh

    def forward(self, ops, Z, out=None):
        return ops.into(self.h(Z), out)

    def backward(self, ops, dQ, Z, Q, out=None):
        return ops.into(dQ * self.dh(Z), out)

    def __reduce__(self):
        """By reference to the two functions, which must be importable: a lambda or a
        function defined inside another cannot be pickled, and says so."""
        for f in (self.h, self.dh):
            where = getattr(f, "__qualname__", "")
            if "<lambda>" in where or "<locals>" in where:
                raise BackpropError(
                    f"the custom activation {self.name!r} cannot be pickled: {where} is not "
                    f"importable (define h and dh at module level, or use one of "
                    f"{', '.join(sorted(ACTIVATIONS))})")
        return Custom, (self.h, self.dh)

    def __repr__(self):
        return f"Activation(custom {self.name!r})"


IDENTITY = Identity()

ACTIVATIONS = {
    a.name: a
    for a in (
        IDENTITY,
        Activation("relu"),
        Activation("sigmoid"),
        Activation("tanh"),
        Activation("arctan", needs_Z=True),     # seed 004: σ(x) = arctan(x)/π + ½
        Activation("softmax"),
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
        return Custom(*activation)
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
