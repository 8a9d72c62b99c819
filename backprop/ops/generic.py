"""The reference backend operations, written on the array API.

`Ops` holds every primitive that Algorithm 6.1, the losses and the optimizers are
written on: the matrix product, the bias, the activations and their backward steps,
the losses with their output error, the row gather of a mini-batch, the optimizers'
updates and the allocation of buffers. This implementation is *functional*: every
operation returns a new array and never writes into its arguments, so it runs on any
array-API namespace (NumPy, CuPy, ``array_api_strict``, PyTorch, JAX, …). It is the
readable reference that the buffered implementations (`BufferedOps`, `NumpyOps`,
`CupyOps`) are tested against, operation by operation.

Conventions shared by every implementation:

* ``out`` is an optional buffer of the result's shape and dtype. A buffered
  implementation writes the result there and returns it; this one ignores it. Callers
  always use the *returned* array, so the same code serves both.
* ``beta`` (gemm, sum_rows) reads ``out``: the result is β·out + (the operation).
* A gradient argument that an update "consumes" (``dtheta`` of the optimizers) may be
  overwritten by a buffered implementation: it is the training step's own buffer.
* ``weights`` are per-sample weights of the mini-batch rows, normalised to sum to 1
  (shape (n,)); None means 1/n each, the plain mean of Algorithm 6.1.
* Costs and misclassification rates are 0-d arrays on the device (never host numbers:
  reading them back is left to whoever reports them).
"""

from __future__ import annotations

import math


class Ops:
    """Array-API reference implementation of the backend operations (functional)."""

    #: rows per block of `Sequential.predict` (None: all rows at once)
    block_rows = None

    def __init__(self, backend):
        self.backend = backend
        self.xp = backend.xp

    # -- buffers and parameters -------------------------------------------------------
    def buffer(self, shape, dtype):
        """An uninitialised array to write results into, or None where nothing is written
        in place (here: every operation returns a new array)."""
        return None

    def buffer_like(self, x):
        """A buffer of ``x``'s shape, dtype and memory layout (None here)."""
        return None

    def view_like(self, flat, offset, x):
        """``flat[offset:offset + x.size]`` as a buffer of ``x``'s shape and layout, e.g.
        dW⁽ˡ⁾ inside one flat gradient buffer (`backprop.distributed`); None here."""
        return None

    def own(self, param):
        """A parameter array the training step may update in place: a private copy on the
        buffered backends, the array itself here (it is never written)."""
        return param

    def zeros_like(self, x):
        """Zeros of ``x``'s shape and dtype on its device (optimizer state, e.g. velocity)."""
        return self.xp.zeros_like(x)

    def into(self, x, out):
        """``x`` as the result of an operation with buffer ``out``: written into ``out`` by
        the buffered implementations, ``x`` itself here."""
        return x

    # -- Algorithm 6.1: products, bias, row sums --------------------------------------
    def gemm(self, A, B, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, out=None):
        """C = α·op(A)·op(B) + β·out, op(M) = Mᵀ when asked (lines 4, 17, 18; 6.27b–c)."""
        C = (A.T if trans_a else A) @ (B.T if trans_b else B)
        if alpha != 1.0:
            C = alpha * C
        return C + beta * out if beta else C

    def add_bias(self, Z, b, out=None):
        """Z + bᵀ: the bias added to every row (line 4, 6.24a)."""
        return Z + b

    def sum_rows(self, dZ, *, beta=0.0, out=None):
        """Σᵢ dZᵢ, the sum over the samples (line 19, 6.27d), plus β·out."""
        s = self.xp.sum(dZ, axis=0)
        return s + beta * out if beta else s

    def sum_squares(self, W):
        """‖W‖², the squared Frobenius norm (seed 000's L2 term λ/2 Σ‖W‖²)."""
        return self.xp.sum(W * W)

    def add_scaled(self, Y, a, X):
        """Y + a·X (the λW of seed 000 added to dW)."""
        return Y + a * X

    def gather_rows(self, X, index, out=None):
        """The rows X[index] of a mini-batch, in the order of ``index`` (a device array)."""
        return self.xp.take(X, index, axis=0)

    # -- activations h (6.24b) and dZ = dQ ⊙ h′ (6.27a, line 16) -----------------------
    def relu(self, Z, out=None):
        """max(Z, 0)."""
        return self.xp.maximum(Z, 0.0)

    def relu_backward(self, dQ, Q, out=None):
        """dQ ⊙ 𝕀{Z > 0}, read from Q (Q > 0 ⇔ Z > 0)."""
        return self.xp.where(Q > 0, dQ, 0.0)

    def sigmoid(self, Z, out=None):
        """σ(Z) = 1/(1 + e^(−Z)) without overflow: e^(−|Z|) is at most 1."""
        xp = self.xp
        e = xp.exp(-xp.abs(Z))
        return xp.where(Z >= 0, 1 / (1 + e), e / (1 + e))

    def sigmoid_backward(self, dQ, Q, out=None):
        """dQ ⊙ σ′ with σ′ = Q(1 − Q)."""
        return dQ * (Q * (1 - Q))

    def tanh(self, Z, out=None):
        return self.xp.tanh(Z)

    def tanh_backward(self, dQ, Q, out=None):
        """dQ ⊙ (1 − Q²)."""
        return dQ * (1 - Q * Q)

    def arctan(self, Z, out=None):
        """Seed 004's σ(z) = arctan(z)/π + ½."""
        return self.xp.atan(Z) / math.pi + 0.5

    def arctan_backward(self, dQ, Z, out=None):
        """dQ ⊙ σ′(Z), σ′(z) = 1/(π(1 + z²)) (seed 004).

        z is clipped to ±1e18 first so that z² cannot overflow in float32: exact up to
        there, and beyond it σ′ is ≤ 3.2e-37 instead of smaller still.
        """
        Zc = self.xp.clip(Z, -1e18, 1e18)
        return dQ / (math.pi * (1 + Zc * Zc))

    def softmax(self, Z, out=None):
        """Row-wise softmax (6.15), shifted by the row maximum so exp never overflows."""
        xp = self.xp
        E = xp.exp(Z - xp.max(Z, axis=1, keepdims=True))
        return E / xp.sum(E, axis=1, keepdims=True)

    def softmax_backward(self, dQ, Q, out=None):
        """Q ⊙ (dQ − ⟨dQ, Q⟩): the softmax Jacobian diag(q) − q qᵀ applied row by row."""
        return Q * (dQ - self.xp.sum(dQ * Q, axis=1, keepdims=True))

    # -- losses: J and the output error dZ⁽ᴸ⁾ (lines 7–13) -----------------------------
    def _mean(self, rows, weights):
        """Σᵢ wᵢ rowsᵢ for a (n,) array: the (weighted) mean over the mini-batch."""
        xp = self.xp
        if weights is None:
            return xp.sum(rows) / rows.shape[0]
        return xp.sum(weights * rows)

    def _row_scale(self, n, weights, scale):
        """scale·wᵢ as a column: what each sample's gradient row is multiplied by."""
        if weights is None:
            return scale / n
        return self.xp.expand_dims(weights * scale, axis=1)

    def squared_error(self, Z, T, *, half=False, weights=None, scale=1.0, out=None):
        """J = c Σᵢ wᵢ‖Zᵢ − Tᵢ‖² and dZ = scale·2c·wᵢ(Zᵢ − Tᵢ), c = 1 (6.19, lines 9–10)
        or ½ (seed 004). Returns ``(J, dZ)``."""
        c = 0.5 if half else 1.0
        R = Z - T
        J = c * self._mean(self.xp.sum(R * R, axis=1), weights)
        return J, R * self._row_scale(Z.shape[0], weights, 2 * c * scale)

    def softmax_cross_entropy(self, Z, T, *, weights=None, scale=1.0, out=None):
        """Cross-entropy from logits (6.20, line 12) with dZ = scale·wᵢ(softmax(Z) − T)
        (6.26b, line 13) and the misclassification rate Σᵢ wᵢ 𝕀{argmax Zᵢ ≠ argmax Tᵢ}.

        ln Σⱼ e^{zⱼ} is computed as m + ln Σⱼ e^{zⱼ−m} with m the row maximum
        (log-sum-exp). Returns ``(J, dZ, error)``.
        """
        xp = self.xp
        S = Z - xp.max(Z, axis=1, keepdims=True)
        log_P = S - xp.log(xp.sum(xp.exp(S), axis=1, keepdims=True))
        J = self._mean(-xp.sum(T * log_P, axis=1), weights)
        dZ = (xp.exp(log_P) - T) * self._row_scale(Z.shape[0], weights, scale)
        wrong = xp.argmax(Z, axis=1) != xp.argmax(T, axis=1)
        return J, dZ, self._mean(xp.astype(wrong, Z.dtype), weights)

    def sigmoid_cross_entropy(self, Z, T, *, weights=None, scale=1.0, out=None):
        """Seed 003's cross-entropy from logits, each term max(z, 0) − t z + ln(1 + e^(−|z|)),
        summed over outputs and averaged over samples; dZ = scale·wᵢ(σ(Z) − T); and the
        fraction of outputs on the wrong side of ½ (logits on the wrong side of 0 against
        targets on either side of ½), averaged over outputs and (weighted) over samples.
        Returns ``(J, dZ, error)``."""
        xp = self.xp
        terms = xp.maximum(Z, 0.0) - T * Z + xp.log1p(xp.exp(-xp.abs(Z)))
        J = self._mean(xp.sum(terms, axis=1), weights)
        dZ = (self.sigmoid(Z) - T) * self._row_scale(Z.shape[0], weights, scale)
        wrong = xp.astype((Z > 0) != (T > 0.5), Z.dtype)
        return J, dZ, self._mean(xp.mean(wrong, axis=1), weights)

    # -- optimizer updates (6.21, 6.23) -------------------------------------------------
    def sgd_update(self, theta, dtheta, lr):
        """θ − γ dθ (6.23a)."""
        return theta - lr * dtheta

    def momentum_update(self, theta, velocity, dtheta, lr, momentum, nesterov):
        """v ← μv + dθ, then θ ← θ − γv, or θ − γ(dθ + μv) with Nesterov. Returns (θ, v)."""
        velocity = momentum * velocity + dtheta
        step = dtheta + momentum * velocity if nesterov else velocity
        return theta - lr * step, velocity

    def adam_update(self, theta, m, v, dtheta, lr, beta1, beta2, eps, t):
        """Adam at step t = 1, 2, …: m ← β₁m + (1 − β₁)dθ, v ← β₂v + (1 − β₂)dθ²,
        θ ← θ − γ m̂/(√v̂ + ε) with m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ). Returns (θ, m, v)."""
        m = beta1 * m + (1 - beta1) * dtheta
        v = beta2 * v + (1 - beta2) * (dtheta * dtheta)
        c1, c2 = 1 - beta1 ** t, 1 - beta2 ** t
        return theta - (lr / c1) * m / (self.xp.sqrt(v / c2) + eps), m, v
