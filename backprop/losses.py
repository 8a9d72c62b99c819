"""Cost functions J(θ) and the output error dZ⁽ᴸ⁾ that starts the backward pass.

A loss receives the network's output ``Z`` (n_b rows) and the targets ``T`` (as
returned by `Loss.targets`) and returns the mean cost over the mini-batch and its
gradient ``dZ = ∂J/∂Z``. That gradient already carries the 1/n_b of the mean, so
by linearity the backward pass yields Algorithm 6.1's dW = dZᵀQ/n_b (line 18) and
db = mean dZ (line 19) as plain sums.

With sample weights ``w`` (one per row, on the model's device) the mean becomes the
weighted mean J = Σᵢ wᵢ Lᵢ / Σᵢ wᵢ and row i of the gradient is wᵢ/Σw times the
unweighted one, e.g. dZᵢ = wᵢ(ŷᵢ − yᵢ)/Σw for the canonical links; equal weights give
the plain mean. A batch whose weights sum to 0 adds nothing (J = 0, dZ = 0).

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

from .activations import sigmoid, softmax
from .errors import BackpropError, BackpropTypeError


class Loss:
    """Base class: ``cost_and_gradient(xp, Z, T, w=None) → (J, dZ)`` with J averaged over
    rows (weighted by ``w`` if given)."""

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

    def cost(self, xp, Z, T, w=None):
        """Mean cost J over the rows of Z (weighted by ``w`` if given)."""
        if w is None:
            return self.cost_and_gradient(xp, Z, T)[0]
        return self.cost_and_gradient(xp, Z, T, w)[0]

    def output(self, xp, Z):
        """The prediction ŷ = link(Z) for the loss's input Z."""
        return Z

    def errors(self, xp, Z, T):
        """Misclassification rate of Z against T (classification losses only), else None."""
        return None

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

    def cost_and_gradient(self, xp, Z, T, w=None):
        n_b = Z.shape[0]
        R = Z - T
        scale = 0.5 if self.half else 1.0
        if w is not None:
            c = row_weights(xp, w)
            return scale * xp.sum(c * (R * R)), R * c * (2 * scale)
        J = scale * xp.sum(R * R) / n_b
        dZ = R * ((1.0 if self.half else 2.0) / n_b)
        return J, dZ

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

    def cost_and_gradient(self, xp, Z, T, w=None):
        n_b = Z.shape[0]
        S = Z - xp.max(Z, axis=1, keepdims=True)
        log_P = S - xp.log(xp.sum(xp.exp(S), axis=1, keepdims=True))
        if w is not None:
            c = row_weights(xp, w)
            return -xp.sum(c * (T * log_P)), (xp.exp(log_P) - T) * c
        J = -xp.sum(T * log_P) / n_b
        dZ = (xp.exp(log_P) - T) / n_b
        return J, dZ

    def output(self, xp, Z):
        return softmax(xp, Z)

    def errors(self, xp, Z, T):
        wrong = xp.argmax(Z, axis=1) != xp.argmax(T, axis=1)
        return xp.mean(xp.astype(wrong, Z.dtype))


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

    def cost_and_gradient(self, xp, Z, T, w=None):
        n_b = Z.shape[0]
        terms = xp.maximum(Z, 0.0) - T * Z + xp.log1p(xp.exp(-xp.abs(Z)))
        if w is not None:
            c = row_weights(xp, w)
            return xp.sum(c * terms), (sigmoid(xp, Z) - T) * c
        J = xp.sum(terms) / n_b
        dZ = (sigmoid(xp, Z) - T) / n_b
        return J, dZ

    def output(self, xp, Z):
        return sigmoid(xp, Z)

    def errors(self, xp, Z, T):
        """Fraction of outputs on the wrong side of ½ (the error rate for one output)."""
        wrong = (Z > 0) != (T > 0.5)
        return xp.mean(xp.astype(wrong, Z.dtype))


def row_weights(xp, w):
    """The column cᵢ = wᵢ/Σⱼwⱼ of the weighted mean J = Σᵢ cᵢ Lᵢ (0 if Σw = 0), from the
    batch's sample weights ``w`` (shape (n_b,), on the device: no host read)."""
    total = xp.sum(w)
    return xp.reshape(w / xp.where(total != 0, total, 1.0), (-1, 1))


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
