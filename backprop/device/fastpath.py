"""The training step of `fit` (array-API reference and NumPy fast path), and `predict`.

`ReferenceStep` is Algorithm 6.1 followed by the optimizer's update, written for any
array-API namespace; it is what every backend runs unless a fast path claims it.
`NumpyStep` computes the same update for NumPy arrays, equal to rounding (the tests
check it against the reference), organised for a CPU:

* every large array of the step (hidden Z⁽ˡ⁾/Q⁽ˡ⁾, dQ⁽ˡ⁾, the weight gradients, the
  mini-batch itself) lives in a buffer allocated once and reused, so a step allocates
  no large temporaries (fresh memory costs page faults on every step);
* the backward pass is linear in the output error dZ⁽ᴸ⁾, so multiplying that small
  (n_b, M) array by −γ makes every dW of line 18 come out as −γ dW: the update
  W ← W − γ dW (6.23a) is then one in-place addition, with no γ·dW temporary; for a
  large W (plain SGD) even that pass goes: BLAS adds the product straight into W
  (`blas.accumulate`, β = 1 − γλ), so dW is never stored;
* softmax cross-entropy, its output error and the batch's misclassification count
  (which `fit` records) are computed together, in few passes over the (n_b, M) output;
* ReLU is applied in place and its derivative read from Q (Q > 0 ⇔ Z > 0);
* W is stored column-major (same shape and values), so Q Wᵀ multiplies two row-major
  operands, which OpenBLAS does faster than with a transposed one;
* a mini-batch is gathered straight into a cache-sized buffer from the epoch's
  permutation instead of copying the whole permuted data set every epoch.

`predict` runs the forward pass (6.24) on NumPy in row blocks with reused buffers.

During `fit`, the fast path updates the layers' W and b in place. It first replaces
them with private (column-major) copies, so arrays a caller obtained before `fit` keep
their values; parameters taken during `fit` (e.g. by a callback) must be copied.
Only `SGD` (plain, heavy-ball or Nesterov momentum, weight decay, any rate schedule)
is implemented here; other optimizers, and every non-NumPy namespace, take
`ReferenceStep`.
"""

from __future__ import annotations

import array_api_compat
import numpy as np

from . import blas
from ..activations import ACTIVATIONS, IDENTITY
from ..losses import SoftmaxCrossEntropy
from ..optim import SGD

_RELU = ACTIVATIONS["relu"]     # specialised by identity: a user's h named "relu" is not it
_SOFTMAX = ACTIVATIONS["softmax"]
# Plain SGD updates a W of at least this many entries inside the dW product
# (`blas.accumulate`); below it the ctypes call costs more than the pass it saves
# (measured: break-even between 50k and 65k entries, 784×200 saves 18 %).
_IN_PRODUCT = 1 << 16


class ReferenceStep:
    """One training iteration on any array-API namespace: `Sequential.gradients` + update."""

    def __init__(self, net, loss, optimizer, weight_decay):
        self.net, self.loss, self.optimizer, self.weight_decay = net, loss, optimizer, weight_decay

    def batches(self, X, T, order, n_b, w=None):
        """Yield ``(stop, X_b, T_b, w_b)`` for each mini-batch of an epoch.

        ``order`` is the epoch's permutation (host integers) or None for the data as is;
        the permuted copy of the data is made once per epoch and sliced into batches.
        ``w`` (sample weights, device array) is permuted and sliced alike; w_b is None
        without it.
        """
        xp, n = self.net.xp, X.shape[0]
        if order is not None:
            perm = self.net.backend.asarray(order, name="permutation")
            X, T = xp.take(X, perm, axis=0), xp.take(T, perm, axis=0)
            w = None if w is None else xp.take(w, perm, axis=0)
        for start in range(0, n, n_b):
            stop = min(start + n_b, n)         # out-of-range slice ends are not standard
            yield stop, X[start:stop, ...], T[start:stop, ...], \
                None if w is None else w[start:stop]

    def __call__(self, X, T, w=None, weight_decay=None):
        """Algorithm 6.1 on (X, T) and the optimizer's step; returns ``(J, error)``.

        ``w``: the batch's sample weights (or None); ``weight_decay``: this batch's λ
        (default: the step's own). ``error`` is the batch's misclassification rate
        (`Loss.errors`, None for losses without one, unweighted), both measured before
        the update, as `fit` records them.
        """
        net, loss = self.net, self.loss
        decay = self.weight_decay if weight_decay is None else weight_decay
        J, grads, out = net.gradients(X, T, loss, decay, w)
        error = loss.errors(net.xp, out, T)
        if getattr(self.optimizer, "needs_cost", False):     # line search: J at trial θ
            self.optimizer.step(net, grads,
                                cost=lambda: net.gradients(X, T, loss, decay, w)[0])
        else:
            self.optimizer.step(net, grads)
        return J, error


# The SGD fields NumpyStep implements; an SGD carrying others takes the reference path.
_SGD_FIELDS = {"lr", "weight_decay", "t", "velocity", "momentum", "nesterov"}


def training_step(net, loss, optimizer, weight_decay):
    """The step `fit` runs: `NumpyStep` for NumPy arrays and plain `SGD`, else the reference."""
    if (array_api_compat.is_numpy_namespace(net.xp) and type(optimizer) is SGD
            and set(vars(optimizer)) == _SGD_FIELDS):
        return NumpyStep(net, loss, optimizer, weight_decay)
    return ReferenceStep(net, loss, optimizer, weight_decay)


class NumpyStep(ReferenceStep):
    """The reference step for NumPy arrays with reused buffers and in-place updates."""

    def __init__(self, net, loss, optimizer, weight_decay):
        super().__init__(net, loss, optimizer, weight_decay)
        for layer in net.layers:
            layer.W = np.array(layer.W, order="F")
            layer.b = np.array(layer.b)
        if optimizer.velocity is not None:      # [v_W⁽¹⁾, v_b⁽¹⁾, v_W⁽²⁾, …], as SGD keeps it
            optimizer.velocity = [np.array(v, order="F") for v in optimizer.velocity]
        self._dW = [np.empty_like(layer.W) for layer in net.layers]
        self._scratch = [np.empty_like(layer.W) for layer in net.layers] \
            if optimizer.momentum else None
        self._buffers, self._batch = {}, None
        self._fold = net.folds(loss)
        self._ones_M = np.ones(net.layers[-1].n_out, net.dtype)

    def _allocate(self, n):
        """Buffers for batches of n rows: Z⁽ˡ⁾ (Q⁽ˡ⁾ for ReLU) and dQ⁽ˡ⁾ of every layer, a
        vector of n ones and the flat offsets i·M of the output rows.

        An epoch has at most two batch sizes (n_b and the remainder), so both are kept.
        """
        layers, dtype, M = self.net.layers, self.net.dtype, self.net.layers[-1].n_out
        self._buffers[n] = ([np.empty((n, layer.n_out), dtype) for layer in layers],
                            [np.empty((n, layer.n_out), dtype) for layer in layers[:-1]],
                            np.ones(n, dtype), np.arange(0, n * M, M))
        return self._buffers[n]

    def batches(self, X, T, order, n_b, w=None):
        """As `ReferenceStep.batches`, gathering each batch into a reused buffer."""
        n = X.shape[0]
        if order is None:
            yield from super().batches(X, T, None, n_b, w)
            return
        if self._batch is None:                 # a step serves one fit: same data, same n_b
            self._batch = (np.empty((min(n_b, n), X.shape[1]), X.dtype),
                           np.empty((min(n_b, n), T.shape[1]), T.dtype))
        Xb, Tb = self._batch
        for start in range(0, n, n_b):
            stop = min(start + n_b, n)
            index = order[start:stop]
            # mode="clip" lets take write into `out` directly (the indices are valid).
            yield (stop, np.take(X, index, axis=0, out=Xb[:stop - start], mode="clip"),
                   np.take(T, index, axis=0, out=Tb[:stop - start], mode="clip"),
                   None if w is None else np.take(w, index))

    def __call__(self, X, T, w=None, weight_decay=None):
        """Algorithm 6.1 and the SGD update (6.23) in place; returns ``(J, error)``.

        Forward (lines 1–6) into the row buffers; the loss (lines 7–13) as in the
        reference; backward (lines 15–19) with dZ⁽ᴸ⁾ scaled by −γ when there is no
        momentum, so dW holds −γ dW and W ← (1 − γλ) W + dW is the update (6.23a with
        seed 000's λW). With momentum μ: v ← μ v + (dW + λW), W ← W − γ v (Nesterov:
        W ← W − γ(dW + λW + μ v)). γ is the optimizer's rate at its step count t.
        ``w`` and ``weight_decay`` as in `ReferenceStep.__call__`.
        """
        loss, layers, xp = self.loss, self.net.layers, self.net.xp
        lr, momentum = self.optimizer.rate(), self.optimizer.momentum
        decay = self.weight_decay if weight_decay is None else weight_decay
        Zs, dQs, ones, offsets = self._buffers.get(X.shape[0]) or self._allocate(X.shape[0])
        Qs = [X]
        for layer, Z in zip(layers[:-1], Zs):      # hidden layers, into the row buffers
            Qs.append(_hidden(xp, layer, Qs[-1], Z))
        last = layers[-1]
        Z_L = np.matmul(Qs[-1], last.W.T, out=Zs[-1])
        Z_L += last.b
        out = Z_L if self._fold else last.activation.forward(xp, Z_L)
        scale = 1.0 if momentum else -lr
        if self._fold and type(loss) is SoftmaxCrossEntropy and w is None:
            J, dZ, error = _softmax_cross_entropy(out, T, scale, offsets, self._ones_M)
        else:
            error = loss.errors(xp, out, T)
            J, dZ = loss.cost_and_gradient(xp, out, T, *(() if w is None else (w,)))
            if not self._fold:
                dZ = last.activation.backward(xp, dZ, Z_L, out)
            dZ = dZ * scale
        if decay:
            # ‖W‖² as a BLAS dot of Wᵀ, which is contiguous in W's column-major storage
            J = J + (decay / 2) * sum(np.vdot(layer.W.T, layer.W.T) for layer in layers)
        for i in range(len(layers) - 1, -1, -1):   # layer l = i + 1
            layer = layers[i]
            if layer is not last:
                h = layer.activation
                if h is _RELU:      # dQ ⊙ 𝕀{Z > 0} as a product, 10× faster than np.where
                    # (the same for finite dQ; an infinite dQ has diverged anyway)
                    dZ = np.multiply(dQs[i], Qs[i + 1] > 0, out=dQs[i])
                else:
                    dZ = h.backward(xp, dQs[i], Zs[i], Qs[i + 1])
            dW = self._dW[i]
            in_product = not momentum and layer.W.size >= _IN_PRODUCT
            if not in_product:
                np.matmul(Qs[i].T, dZ, out=dW.T)   # dWᵀ = Qᵀ dZ into column-major dW
            db = ones @ dZ                          # Σᵢ dZᵢ as a BLAS product
            if i:
                np.matmul(dZ, layer.W, out=dQs[i - 1])   # line 17, W before its update
            if in_product:      # Wᵀ ← (1 − γλ) Wᵀ + Qᵀ(−γ dZ) inside the product (6.23a)
                blas.accumulate(layer.W.T, Qs[i].T, dZ, 1.0 - lr * decay, dW.T)
                layer.b += db
            else:
                self._update(i, layer, dW, db, lr, decay, momentum)
        self.optimizer.t += 1
        return J, error

    def _update(self, i, layer, dW, db, lr, decay, momentum):
        """SGD on layer ``i`` in place; ``dW``/``db`` are −γ·gradient without momentum."""
        if not momentum:
            if decay:
                layer.W *= 1.0 - lr * decay
            layer.W += dW
            layer.b += db
            return
        if decay:
            dW += np.multiply(layer.W, decay, out=self._scratch[i])
        opt = self.optimizer
        if opt.velocity is None:
            opt.velocity = [np.zeros_like(p) for l in self.net.layers for p in (l.W, l.b)]
        vW, vb = opt.velocity[2 * i], opt.velocity[2 * i + 1]
        vW *= momentum
        vW += dW
        vb *= momentum
        vb += db
        if opt.nesterov:                        # θ ← θ − γ (dθ + μ v)
            step_W = np.multiply(vW, momentum, out=self._scratch[i])
            step_W += dW
            step_W *= lr
            layer.W -= step_W
            layer.b -= lr * (db + momentum * vb)
        else:                                   # θ ← θ − γ v
            layer.W -= np.multiply(vW, lr, out=self._scratch[i])
            layer.b -= lr * vb


def _hidden(xp, layer, Q, Z):
    """A hidden layer's output h(Q Wᵀ + bᵀ) (6.24b) with Z computed into the buffer ``Z``;
    ReLU is applied in place, so then the buffer holds Q⁽ˡ⁾ (and Q > 0 ⇔ Z > 0)."""
    np.matmul(Q, layer.W.T, out=Z)
    Z += layer.b
    if layer.activation is _RELU:
        return np.maximum(Z, 0.0, out=Z)
    return layer.activation.forward(xp, Z)


def _softmax_cross_entropy(Z, T, scale, offsets, ones):
    """`SoftmaxCrossEntropy.cost_and_gradient` (6.20, 6.26b) with dZ multiplied by ``scale``,
    and its `errors`; returns ``(J, dZ, error rate)``.

    The same log-sum-exp shifted by the row maximum, with fewer passes: the row maximum
    is read at the row's argmax ŷᵢ, which also gives the misclassification count
    (ŷᵢ ≠ argmax Tᵢ), and exp(S) is turned into scale·(P − T)/n_b in place. ``offsets``
    holds i·M (the flat index of row i), ``ones`` M ones (row sums as BLAS products).
    With Σₖ Tᵢₖ = tᵢ: J = −(1/n_b) Σᵢ Σₖ Tᵢₖ (Sᵢₖ − ln sᵢ) = (Σᵢ tᵢ ln sᵢ − ⟨T, S⟩)/n_b.
    """
    n = Z.shape[0]
    y_hat = np.argmax(Z, axis=1)
    wrong = np.count_nonzero(y_hat != np.argmax(T, axis=1))
    S = Z - np.take(Z, y_hat + offsets)[:, None]
    TS = np.vdot(T, S)
    E = np.exp(S, out=S)
    s = E @ ones
    J = (np.vdot(T @ ones, np.log(s)) - TS) / n
    E /= s[:, None]
    E -= T
    E *= scale / n
    return J, E, Z.dtype.type(wrong) / n


_BLOCK = 1024   # rows per block of `predict`: the hidden activations stay in cache


def predict(net, X):
    """The output Q⁽ᴸ⁾ for the rows of device array X (6.24), without caching the pass.

    On NumPy the rows are processed in blocks whose hidden activations live in reused
    buffers (ReLU in place), and each block's output is written straight into the
    result (softmax in place); other namespaces run `Sequential.forward`.
    """
    if not array_api_compat.is_numpy_namespace(net.xp):
        return net.forward(X)[0][-1]
    xp, n, last = net.xp, X.shape[0], net.layers[-1]
    out = np.empty((n, last.n_out), net.dtype)
    hidden = [np.empty((min(_BLOCK, n), layer.n_out), net.dtype) for layer in net.layers[:-1]]
    offsets, ones = np.arange(0, _BLOCK * last.n_out, last.n_out), np.ones(last.n_out, net.dtype)
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        Q = X[start:stop]
        for layer, H in zip(net.layers[:-1], hidden):
            Q = _hidden(xp, layer, Q, H[:stop - start])
        Z = np.matmul(Q, last.W.T, out=out[start:stop])
        Z += last.b
        if last.activation is _SOFTMAX:
            _softmax_in_place(Z, offsets[:stop - start], ones)
        elif last.activation is not IDENTITY:
            out[start:stop] = last.activation.forward(xp, Z)
    return out


def _softmax_in_place(Z, offsets, ones):
    """Z ← softmax(Z) row-wise (6.15), shifted by the row maximum as `activations.softmax`.

    The maximum is read at the row's argmax (``offsets``: i·M), which is several times
    faster than a maximum along rows of a few columns; row sums are a BLAS product.
    """
    Z -= np.take(Z, np.argmax(Z, axis=1) + offsets)[:, None]
    np.exp(Z, out=Z)
    Z /= (Z @ ones)[:, None]
