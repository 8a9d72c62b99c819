"""Backend operations for CuPy on an NVIDIA GPU: `BufferedOps` with fused kernels.

A small network's step on a GPU is bound by kernel launches, not by arithmetic, so
what differs from NumPy is the number of passes:

* gemm with β ≠ 0 (the SGD update inside the dW product, 6.23a) is one cuBLAS call,
  ``cupy.cublas.gemm`` (C- and F-ordered operands without copies);
* one elementwise kernel each for the ReLU backward step (dQ ⊙ 𝕀{Q > 0}), the tail of
  the softmax cross-entropy gradient (scale·wᵢ(e^{S}/s − T)), the momentum update and
  the Adam update, where the reference takes three to eight passes.

Every kernel computes the reference's formula; the `gpu` tests compare each one with
`Ops` operation by operation. No value is read back to the host here.
"""

from __future__ import annotations

import cupy
import cupy.cublas

from .buffered import BufferedOps

_RELU_BACKWARD = cupy.ElementwiseKernel(
    "T dQ, T Q", "T dZ", "dZ = Q > 0 ? dQ : (T)0", "backprop_relu_backward")

_SOFTMAX_ERROR = cupy.ElementwiseKernel(
    "T E, T s, T target, T r", "T dZ", "dZ = r * (E / s - target)", "backprop_softmax_error")

_MOMENTUM = cupy.ElementwiseKernel(
    "T g, T lr, T mu, bool nesterov", "T theta, T v",
    "v = mu * v + g; theta -= lr * (nesterov ? g + mu * v : v);", "backprop_momentum")

_ADAM = cupy.ElementwiseKernel(
    "T g, T lr_hat, T beta1, T beta2, T eps, T c2", "T theta, T m, T v",
    """m = beta1 * m + (1 - beta1) * g;
    v = beta2 * v + (1 - beta2) * (g * g);
    theta -= lr_hat * m / (sqrt(v / c2) + eps);""", "backprop_adam")


class CupyOps(BufferedOps):
    """`BufferedOps` on CuPy with cuBLAS gemm and fused elementwise kernels."""

    def __init__(self, backend):
        super().__init__(backend, cupy)

    def _accumulate(self, C, A, B, alpha, beta):
        cupy.cublas.gemm("N", "N", A, B, out=C, alpha=alpha, beta=beta)
        return C

    def relu_backward(self, dQ, Q, out=None):
        return _RELU_BACKWARD(dQ, Q, out) if out is not None else _RELU_BACKWARD(dQ, Q)

    def _softmax_error(self, E, s, T, weights, scale):
        r = scale / E.shape[0] if weights is None else (weights * scale)[:, None]
        return _SOFTMAX_ERROR(E, s[:, None], T, r, E)

    def momentum_update(self, theta, velocity, dtheta, lr, momentum, nesterov):
        _MOMENTUM(dtheta, lr, momentum, nesterov, theta, velocity)
        return theta, velocity

    def adam_update(self, theta, m, v, dtheta, lr, beta1, beta2, eps, t):
        _ADAM(dtheta, lr / (1 - beta1 ** t), beta1, beta2, eps, 1 - beta2 ** t, theta, m, v)
        return theta, m, v
