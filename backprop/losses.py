"""Cost functions J(θ) and the output error dZ⁽ᴸ⁾ that starts the backward pass.

A loss receives the network's output ``Z`` (n_b rows) and the targets ``T`` (as
returned by `Loss.targets`) and returns, through the backend's operations
(`backprop.ops`), the mean cost over the mini-batch, its gradient ``dZ = ∂J/∂Z`` and,
for classification, the misclassification rate. The gradient already carries the
1/n_b of the mean, so by linearity the backward pass yields Algorithm 6.1's
dW = dZᵀQ/n_b (line 18) and db = mean dZ (line 19) as plain sums.

Sample weights s₁ … s_n make the mean a weighted one, J = Σᵢ sᵢ Lᵢ / Σᵢ sᵢ; they reach
the loss normalised, wᵢ = sᵢ / Σⱼ sⱼ (``weights``; None is wᵢ = 1/n_b).

Each loss has a *link*, the output activation it is canonical with (seed 000,
eq. 11.6): identity for squared error, softmax for softmax cross-entropy, sigmoid
for sigmoid cross-entropy. If the network's last layer uses that activation, the
network hands the loss the pre-activation Z⁽ᴸ⁾ instead (the link is folded into the
loss), so the output error is ŷ − y, computed stably from logits. With any other
last activation the loss is applied to that layer's output and the chain rule with
h′ (6.27a) takes the gradient back through it.
"""

from __future__ import annotations

import array_api_compat

from .activations import ACTIVATIONS
from .errors import BackpropError, BackpropTypeError


class Loss:
    """Base class: ``evaluate(ops, Z, T) → (J, dZ, error)`` with J averaged over rows."""

    name = "loss"
    link = "identity"
    classification = False

    def targets(self, xp, y, n_outputs: int, dtype):
        """Validate ``y`` and return the targets as a float array of shape (n, n_outputs)."""
        if y.ndim == 1 and n_outputs == 1:
            y = xp.reshape(y, (y.shape[0], 1))
        if y.ndim != 2 or y.shape[1] != n_outputs:
            raise BackpropError(
                f"y must have shape (n_samples, {n_outputs}) for {self.name} with {n_outputs} "
                f"output(s); got shape {tuple(y.shape)}")
        if not (xp.isdtype(y.dtype, "real floating") or xp.isdtype(y.dtype, "integral")
                or xp.isdtype(y.dtype, "bool")):
            raise BackpropTypeError(f"y must be numeric; got dtype {y.dtype}")
        T = xp.astype(y, dtype)
        if not bool(xp.all(xp.isfinite(T))):
            raise BackpropError("y must contain only finite values; got NaN or Inf entries")
        return T

    def evaluate(self, ops, Z, T, *, weights=None, scale=1.0, out=None):
        """``(J, dZ, error)``: the (weighted) mean cost, its gradient ∂J/∂Z multiplied by
        ``scale``, and the misclassification rate (None for regression losses).

        ``weights``: normalised sample weights (see the module docstring); ``out``: a
        buffer for dZ. A scale of −γ turns dZ into the start of an SGD step (`fit`).
        """
        raise NotImplementedError

    def cost(self, ops, Z, T):
        """Mean cost J over the rows of Z."""
        return self.evaluate(ops, Z, T)[0]

    def output(self, ops, Z):
        """The prediction ŷ = link(Z) for the loss's input Z."""
        return ACTIVATIONS[self.link].forward(ops, Z)

    def __repr__(self):
        return f"{type(self).__name__}()"


class SquaredError(Loss):
    """J = (1/n_b) Σᵢ ‖yᵢ − ŷᵢ‖², dZ = −2(y − ŷ)/n_b (Algorithm 6.1 lines 9–10, eq. 6.26a).

    ``half=True`` gives seed 004's form L = ½‖ŷ − y‖², whose gradient is ŷ − y (seed 004,
    eq. 25). Outputs are summed and samples averaged, so cost and gradient always agree.
    """

    name = "squared_error"

    def __init__(self, half: bool = False):
        self.half = half

    def evaluate(self, ops, Z, T, *, weights=None, scale=1.0, out=None):
        J, dZ = ops.squared_error(Z, T, half=self.half, weights=weights, scale=scale, out=out)
        return J, dZ, None

    def __repr__(self):
        return f"SquaredError(half={self.half})"


class SoftmaxCrossEntropy(Loss):
    """J = (1/n_b) Σᵢ (−z_{i,yᵢ} + ln Σⱼ e^{z_ij}) (6.20, Algorithm 6.1 line 12), from logits.

    dZ = (softmax(Z) − T)/n_b (6.26b, line 13), where T is the one-hot form of integer
    labels or given probability rows. ln Σ e^z is computed as m + ln Σ e^{z−m} with m the
    row maximum (log-sum-exp), so logits of any magnitude stay finite.
    """

    name = "softmax_cross_entropy"
    link = "softmax"
    classification = True

    def targets(self, xp, y, n_outputs, dtype):
        """Integer labels 0..M−1 (shape (n,)) become one-hot rows; (n, M) rows must sum to 1."""
        if n_outputs < 2:
            raise BackpropError(
                f"{self.name} needs at least 2 outputs (classes); the network has {n_outputs}")
        if y.ndim == 1:
            if not xp.isdtype(y.dtype, "integral"):
                raise BackpropTypeError(
                    f"y given as labels (shape (n,)) must be integers 0..{n_outputs - 1}; "
                    f"got dtype {y.dtype}")
            if y.shape[0] and bool(xp.any((y < 0) | (y >= n_outputs))):
                raise BackpropError(
                    f"y labels must lie in 0..{n_outputs - 1} for {n_outputs} classes; got "
                    f"values from {int(xp.min(y))} to {int(xp.max(y))}")
            return one_hot(xp, y, n_outputs, dtype)
        T = super().targets(xp, y, n_outputs, dtype)
        bad = xp.any(T < 0, axis=1) | (xp.abs(xp.sum(T, axis=1) - 1) > 1e-3)
        if T.shape[0] and bool(xp.any(bad)):
            i = int(xp.argmax(xp.astype(bad, xp.int8)))
            raise BackpropError(
                "y given as rows (shape (n, M)) must be probability distributions: "
                f"non-negative, each row summing to 1; got row {i} with minimum "
                f"{float(xp.min(T[i, ...])):g} and sum {float(xp.sum(T[i, ...])):g}")
        return T

    def evaluate(self, ops, Z, T, *, weights=None, scale=1.0, out=None):
        return ops.softmax_cross_entropy(Z, T, weights=weights, scale=scale, out=out)


class SigmoidCrossEntropy(Loss):
    """J = (1/n_b) Σᵢ Σₖ −[t ln σ(z) + (1 − t) ln(1 − σ(z))], from logits.

    This is seed 003's cross-entropy error E(Θ) (averaged over samples instead of summed)
    and seed 000's binary / multi-label output h(b) = [sigm(b₁), …, sigm(b_C)]. Each term is
    evaluated as max(z, 0) − t z + ln(1 + e^(−|z|)), finite for any z; dZ = (σ(Z) − T)/n_b
    (seed 003, δ⁽³⁾ = Y − L).
    """

    name = "sigmoid_cross_entropy"
    link = "sigmoid"
    classification = True

    def targets(self, xp, y, n_outputs, dtype):
        """Targets in [0, 1]: shape (n,) for one output, (n, C) for C independent outputs."""
        T = super().targets(xp, y, n_outputs, dtype)
        if T.shape[0] and bool(xp.any((T < 0) | (T > 1))):
            raise BackpropError(
                f"y for {self.name} must lie in [0, 1]; got values from {float(xp.min(T)):g} "
                f"to {float(xp.max(T)):g}")
        return T

    def evaluate(self, ops, Z, T, *, weights=None, scale=1.0, out=None):
        """The error rate is the fraction of outputs on the wrong side of ½ (for one
        output, the misclassification rate)."""
        return ops.sigmoid_cross_entropy(Z, T, weights=weights, scale=scale, out=out)


def one_hot(xp, labels, n_classes: int, dtype):
    """Rows e_{yᵢ} of the identity, built on the labels' device: T_ij = 𝕀{yᵢ = j}."""
    classes = xp.arange(n_classes, device=array_api_compat.device(labels))
    return xp.astype(xp.expand_dims(labels, axis=1) == classes, dtype)


LOSSES = {
    "squared_error": SquaredError,
    "mse": SquaredError,
    "softmax_cross_entropy": SoftmaxCrossEntropy,
    "cross_entropy": SoftmaxCrossEntropy,
    "sigmoid_cross_entropy": SigmoidCrossEntropy,
    "binary_cross_entropy": SigmoidCrossEntropy,
}


def get(loss) -> Loss:
    """Look up a loss by name (see ``LOSSES``) or pass a `Loss` through."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss.lower() in LOSSES:
        return LOSSES[loss.lower()]()
    error = BackpropError if isinstance(loss, str) else BackpropTypeError
    raise error(f"loss must be a Loss or one of {', '.join(LOSSES)}; got {loss!r}")
