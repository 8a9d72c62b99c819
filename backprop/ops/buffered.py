"""Backend operations that write into buffers: shared by NumPy and CuPy.

NumPy and CuPy have the same functions, ``out=`` arguments and in-place operators, so
one implementation serves both; ``self.np`` is the array module (``numpy`` or
``cupy``). Compared with the reference (`Ops`), every operation here writes its result
into ``out`` when given one and updates in place what the conventions allow: no large
temporary is allocated on the hot path of a training step (fresh memory costs page
faults on every step). The math and its order of floating-point operations follow the
reference wherever that costs nothing, so results agree to rounding.

Nothing here reads a value back to the host: reductions stay arrays (on CuPy, 0-d
device arrays), so the training step never waits for the GPU.
"""

from __future__ import annotations

import math

from .generic import Ops


class BufferedOps(Ops):
    """`Ops` for NumPy-like modules, writing into ``out`` and updating in place."""

    def __init__(self, backend, module):
        super().__init__(backend)
        self.np = module

    # -- buffers and parameters -------------------------------------------------------
    def buffer(self, shape, dtype):
        return self.np.empty(shape, dtype)

    def buffer_like(self, x):
        return self.np.empty_like(x)

    def own(self, param):
        """A private copy (same layout) that the training step updates in place."""
        return param.copy(order="K")

    def zeros_like(self, x):
        return self.np.zeros_like(x)

    def into(self, x, out):
        if out is None:
            return x
        out[...] = x
        return out

    def view_like(self, flat, offset, x):
        """``flat[offset:offset + x.size]`` viewed with ``x``'s shape and memory layout:
        a column-major W (NumPy's, `NumpyOps.own`) gets the vec order of θ (6.17)."""
        segment = flat[offset:offset + x.size]
        if x.ndim == 2 and not x.flags.c_contiguous:
            return segment.reshape(x.shape[::-1]).T
        return segment.reshape(x.shape)

    # -- Algorithm 6.1: products, bias, row sums --------------------------------------
    def gemm(self, A, B, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, out=None):
        a, b = (A.T if trans_a else A), (B.T if trans_b else B)
        if out is None:
            C = self.np.matmul(a, b)
            if alpha != 1.0:
                C *= alpha
            return C
        C = out
        if not out.flags.c_contiguous and out.T.flags.c_contiguous:
            # a column-major C: compute Cᵀ = bᵀaᵀ into its row-major transpose
            a, b, C = b.T, a.T, out.T
        if beta:
            self._accumulate(C, a, b, alpha, beta)
        else:
            self.np.matmul(a, b, out=C)
            if alpha != 1.0:
                C *= alpha
        return out

    def _accumulate(self, C, A, B, alpha, beta):
        """C ← β·C + α·A·B in place (the backends with a BLAS gemm do it in one call)."""
        P = self.np.matmul(A, B)
        if alpha != 1.0:
            P *= alpha
        if beta != 1.0:
            C *= beta
        C += P
        return C

    def add_bias(self, Z, b, out=None):
        return self.np.add(Z, b, out=out)

    def sum_rows(self, dZ, *, beta=0.0, out=None):
        if not beta:
            return self.np.sum(dZ, axis=0, out=out)
        if beta != 1.0:
            out *= beta
        out += self.np.sum(dZ, axis=0)
        return out

    def sum_squares(self, W):
        # vdot reads its arguments in row-major order: give it the contiguous view
        W = W if W.flags.c_contiguous else W.T
        return self.np.vdot(W, W)

    def add_scaled(self, Y, a, X):
        Y += X if a == 1.0 else a * X
        return Y

    def gather_rows(self, X, index, out=None):
        return self.np.take(X, index, axis=0, out=out)

    # -- activations -----------------------------------------------------------------
    def relu(self, Z, out=None):
        return self.np.maximum(Z, 0.0, out=out)

    def relu_backward(self, dQ, Q, out=None):
        return self.np.multiply(dQ, Q > 0, out=out)

    def sigmoid(self, Z, out=None):
        return self.into(super().sigmoid(Z), out)

    def sigmoid_backward(self, dQ, Q, out=None):
        s = 1 - Q
        s *= Q
        return self.np.multiply(dQ, s, out=out)

    def tanh(self, Z, out=None):
        return self.np.tanh(Z, out=out)

    def tanh_backward(self, dQ, Q, out=None):
        s = Q * Q
        self.np.subtract(1, s, out=s)
        return self.np.multiply(dQ, s, out=out)

    def arctan(self, Z, out=None):
        np = self.np
        Q = np.arctan(Z, out=out)
        np.divide(Q, math.pi, out=Q)
        Q += 0.5
        return Q

    def arctan_backward(self, dQ, Z, out=None):
        np = self.np
        D = np.clip(Z, -1e18, 1e18)
        D *= D
        D += 1
        np.multiply(D, math.pi, out=D)
        return np.divide(dQ, D, out=out)

    def softmax(self, Z, out=None):
        np = self.np
        E = np.subtract(Z, np.max(Z, axis=1, keepdims=True), out=out)
        np.exp(E, out=E)
        E /= np.sum(E, axis=1, keepdims=True)
        return E

    def softmax_backward(self, dQ, Q, out=None):
        np = self.np
        dZ = np.subtract(dQ, np.sum(dQ * Q, axis=1, keepdims=True), out=out)
        dZ *= Q
        return dZ

    # -- losses ------------------------------------------------------------------------
    def _row_sums(self, A):
        """Σₖ Aᵢₖ for every row i (a vector of n)."""
        return self.np.sum(A, axis=1)

    def _row_max(self, Z, argmax):
        """The row maxima of Z as a column, given each row's argmax."""
        return self.np.max(Z, axis=1, keepdims=True)

    def _scale_rows(self, R, weights, scale):
        """R ← scale·wᵢ·Rᵢ in place (wᵢ = 1/n without weights)."""
        if weights is None:
            R *= scale / R.shape[0]
        else:
            R *= (weights * scale)[:, None]
        return R

    def squared_error(self, Z, T, *, half=False, weights=None, scale=1.0, out=None):
        c = 0.5 if half else 1.0
        R = self.np.subtract(Z, T, out=out)
        if weights is None:
            J = c * self.np.vdot(R, R) / R.shape[0]
        else:
            J = c * self.np.vdot(weights, self._row_sums(R * R))
        return J, self._scale_rows(R, weights, 2 * c * scale)

    def softmax_cross_entropy(self, Z, T, *, weights=None, scale=1.0, out=None):
        """The reference's cost, output error and misclassification in few passes.

        The row maximum is read at each row's argmax ŷᵢ, which also gives the
        misclassification (ŷᵢ ≠ argmax Tᵢ); exp(S) becomes scale·wᵢ(P − T) in place.
        With S = Z − max and tᵢ = Σₖ Tᵢₖ: Jᵢ = −Σₖ Tᵢₖ(Sᵢₖ − ln sᵢ) = tᵢ ln sᵢ − ⟨Tᵢ, Sᵢ⟩,
        where sᵢ = Σₖ e^{Sᵢₖ}.
        """
        np = self.np
        n = Z.shape[0]
        y_hat = Z.argmax(axis=1)
        wrong = y_hat != T.argmax(axis=1)
        S = np.subtract(Z, self._row_max(Z, y_hat), out=out)
        if weights is None:
            TS = np.vdot(T, S)
        else:
            TS_rows = self._row_sums(T * S)
        E = np.exp(S, out=S)
        s = self._row_sums(E)
        t_log_s = self._row_sums(T) * np.log(s)
        if weights is None:
            J = (np.sum(t_log_s) - TS) / n
            error = np.asarray(np.count_nonzero(wrong) / n, dtype=Z.dtype)
        else:
            J = np.vdot(weights, t_log_s - TS_rows)
            error = np.vdot(weights, wrong.astype(Z.dtype))
        return J, self._softmax_error(E, s, T, weights, scale), error

    def _softmax_error(self, E, s, T, weights, scale):
        """E ← scale·wᵢ(Eᵢ/sᵢ − Tᵢ) in place: the output error (6.26b) from E = e^S."""
        E /= s[:, None]
        E -= T
        return self._scale_rows(E, weights, scale)

    def sigmoid_cross_entropy(self, Z, T, *, weights=None, scale=1.0, out=None):
        """The reference's cost, output error and error rate with e = e^(−|z|) computed
        once: ln(1 + e) for the cost, σ(z) = 1/(1 + e) or e/(1 + e) for the gradient."""
        np = self.np
        n, M = Z.shape
        E = np.exp(-np.abs(Z))
        L = np.log1p(E)
        L += np.maximum(Z, 0.0)
        L -= T * Z
        P = np.where(Z >= 0, 1.0, E)
        E += 1
        P /= E
        wrong = ((Z > 0) != (T > 0.5)).astype(Z.dtype)
        if weights is None:
            J = np.sum(L) / n
            error = np.sum(wrong) / (n * M)
        else:
            J = np.vdot(weights, self._row_sums(L))
            error = np.vdot(weights, self._row_sums(wrong)) / M
        dZ = np.subtract(P, T, out=out)
        return J, self._scale_rows(dZ, weights, scale), error

    # -- optimizer updates (dθ is consumed: it is the step's gradient buffer) -----------
    def sgd_update(self, theta, dtheta, lr):
        dtheta *= lr
        theta -= dtheta
        return theta

    def momentum_update(self, theta, velocity, dtheta, lr, momentum, nesterov):
        velocity *= momentum
        velocity += dtheta
        if nesterov:
            dtheta += momentum * velocity
            dtheta *= lr
        else:
            self.np.multiply(velocity, lr, out=dtheta)
        theta -= dtheta
        return theta, velocity

    def adam_update(self, theta, m, v, dtheta, lr, beta1, beta2, eps, t):
        np = self.np
        m *= beta1
        scratch = dtheta * (1 - beta1)
        m += scratch
        np.multiply(dtheta, dtheta, out=dtheta)
        dtheta *= 1 - beta2
        v *= beta2
        v += dtheta
        np.divide(v, 1 - beta2 ** t, out=dtheta)
        np.sqrt(dtheta, out=dtheta)
        dtheta += eps
        np.multiply(m, lr / (1 - beta1 ** t), out=scratch)
        np.divide(scratch, dtheta, out=dtheta)
        theta -= dtheta
        return theta, m, v
