"""Sequential: a feedforward network of Dense layers and Algorithm 6.1 (backpropagation).

The forward pass caches Z⁽ˡ⁾ and Q⁽ˡ⁾ (6.24); the backward pass runs (6.26)–(6.27)
on the whole mini-batch in matrix form (6.28) and returns J(θ) and, per layer,
(dW⁽ˡ⁾, db⁽ˡ⁾). The parameter vector θ follows (6.17).
"""

from __future__ import annotations

from . import losses as _losses
from . import ops as _ops
from . import optim as _optim
from .activations import ACTIVATIONS
from .device import Random, resolve, to_host
from .errors import BackpropError, BackpropTypeError, check_number, check_seed
from .layers import Dense
from .ops import Workspace


class Sequential:
    """Layers applied in order: Q⁽⁰⁾ = X, Q⁽ˡ⁾ = h(Q⁽ˡ⁻¹⁾W⁽ˡ⁾ᵀ + b⁽ˡ⁾ᵀ) (6.24).

    ``device`` is ``"cpu"``, ``"cuda"``, ``"cuda:N"``, an array-API namespace or a
    ``(namespace, device)`` pair (see `backprop.device`); ``dtype`` is ``"float32"``
    (default) or ``"float64"``; ``seed`` fixes the initial weights on every backend.
    """

    def __init__(self, layers, device="cpu", dtype="float32", seed=0):
        if not isinstance(layers, (list, tuple)) or not layers or not all(
                isinstance(layer, Dense) for layer in layers):
            raise BackpropTypeError(
                f"layers must be a non-empty list of bp.Dense layers; got {layers!r}")
        layers = list(layers)
        for l, layer in enumerate(layers, start=1):      # a Dense holds its own W and b
            same = next((k for k, other in enumerate(layers[:l - 1], 1) if other is layer), None)
            if layer.W is not None or same is not None:
                where = "another Sequential" if same is None else f"this list as layer {same}"
                raise BackpropError(
                    f"layer {l} ({layer!r}) is already used in {where}: a Dense object holds "
                    f"its own W and b, so create a new bp.Dense for each place")
        seed = check_seed(seed)
        for l, (a, b) in enumerate(zip(layers, layers[1:]), start=1):
            if a.n_out != b.n_in:
                raise BackpropError(
                    f"layer sizes do not chain: layer {l} has {a.n_out} outputs but layer "
                    f"{l + 1} expects {b.n_in} inputs")
        self.layers = layers
        self.backend = resolve(device)
        self.ops = _ops.for_backend(self.backend)
        self.dtype = self.backend.dtype(dtype)
        rng = Random(seed)
        with self.backend.context():
            for layer in layers:
                layer.initialize(self.backend, self.dtype, rng)

    @property
    def xp(self):
        """The array-API namespace of the parameters."""
        return self.backend.xp

    @property
    def device(self):
        """The device the parameters live on."""
        return self.backend.device

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_in

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n_out

    @property
    def n_params(self) -> int:
        """Length of θ (6.17): Σₗ (U⁽ˡ⁾·U⁽ˡ⁻¹⁾ + U⁽ˡ⁾)."""
        return sum(layer.n_params for layer in self.layers)

    # -- inputs ---------------------------------------------------------------------
    def inputs(self, X, name="X"):
        """``X`` as a (n, n_inputs) array of the model's dtype on the model's device.

        Finiteness is checked on the array the model will compute on, after the cast:
        float64 data beyond float32's range are refused for a float32 model.
        """
        X = self.backend.asarray(X, name=name)
        xp = self.xp
        if not xp.isdtype(X.dtype, "real floating"):
            raise BackpropTypeError(
                f"{name} must hold floating-point features; got dtype {X.dtype} "
                f"(scale integer data first, e.g. X / 255 for pixels)")
        if X.ndim != 2 or X.shape[1] != self.n_inputs:
            hint = " (one sample? pass it as a row of shape (1, n))" if X.ndim == 1 else ""
            raise BackpropError(
                f"{name} must have shape (n_samples, {self.n_inputs}); got {tuple(X.shape)}{hint}")
        cast = xp.astype(X, self.dtype) if X.dtype != self.dtype else X
        if not _all_finite(xp, cast):
            bad = _count_nonfinite(xp, cast)
            too_large = bad - _count_nonfinite(xp, X)
            if too_large:
                raise BackpropError(
                    f"{name} has {too_large} values too large for {_dtype_name(self.dtype)} (|x| > "
                    f"{float(xp.finfo(self.dtype).max):.3g}): scale the data or use "
                    f"dtype='float64'")
            raise BackpropError(f"{name} must contain only finite values; got {bad} NaN/Inf entries")
        return cast

    def targets(self, y, loss, n_samples: int, name="y"):
        """``y`` converted by ``loss`` to a float target matrix T on the model's device."""
        if n_samples == 0:
            raise BackpropError(f"{name} needs at least one sample to evaluate a cost; got 0 rows")
        y = self.backend.asarray(y, name=name)
        if y.ndim == 0 or y.shape[0] != n_samples:
            raise BackpropError(
                f"{name} must have one row per sample of X ({n_samples}); got shape "
                f"{tuple(y.shape)}")
        return loss.targets(self.xp, y, self.n_outputs, self.dtype)

    # -- forward --------------------------------------------------------------------
    def predict(self, X):
        """The network's output Q⁽ᴸ⁾ = h(Z⁽ᴸ⁾) for the rows of X (6.24); logits if h = identity."""
        with self.backend.context():
            return self.output(self.inputs(X))

    __call__ = predict

    def output(self, X, ws=None):
        """Q⁽ᴸ⁾ for device rows X (6.24) without caching the pass (no checks).

        On a buffered backend the rows go through in blocks of ``ops.block_rows`` whose
        hidden activations live in reused buffers, and each block's output is written
        straight into the result; a functional backend takes all rows in one pass.
        """
        ops, n = self.ops, X.shape[0]
        out = ops.buffer((n, self.n_outputs), self.dtype)
        if out is None:
            return self.forward(X)[0][-1]
        ws = Workspace(ops) if ws is None else ws
        block = ops.block_rows or max(n, 1)
        for start in range(0, n, block):
            stop = min(start + block, n)
            self.forward(X[start:stop, ...], ws=ws, out=out[start:stop, ...])
        return out

    def forward(self, X, fold_last=False, ws=None, out=None):
        """Forward propagation (Algorithm 6.1 lines 1–6) caching Q⁽⁰⁾…Q⁽ᴸ⁾ and Z⁽¹⁾…Z⁽ᴸ⁾.

        With ``fold_last`` the last activation is not applied (line 5 skipped for l = L):
        the loss applies it itself, from the logits. Returns ``(Qs, Zs)``. With a
        workspace ``ws`` the arrays are written into its buffers, and an activation whose
        backward step reads only Q overwrites Z with Q (then ``Zs[l]`` is ``Qs[l + 1]``).
        ``out`` receives the network's output: Z⁽ᴸ⁾ and then Q⁽ᴸ⁾ are written into it
        (`output`; Z⁽ᴸ⁾ is then lost, so not for a backward pass).
        """
        ops, L, n = self.ops, len(self.layers), X.shape[0]
        Qs, Zs = [X], []
        for l, layer in enumerate(self.layers, start=1):
            last = l == L and out is not None
            Z = layer.forward(ops, Qs[-1], out=out if last else
                              _buffer(ws, ("Z", l), (n, layer.n_out), self.dtype))
            Zs.append(Z)
            h = layer.activation
            if fold_last and l == L:
                Qs.append(Z)
            elif last or (ws is not None and not h.needs_Z):
                Qs.append(h.forward(ops, Z, out=Z))
            elif ws is None:
                Qs.append(h.forward(ops, Z))
            else:
                Qs.append(h.forward(ops, Z, out=ws.get(("Q", l), (n, layer.n_out), self.dtype)))
        return Qs, Zs

    def folds(self, loss) -> bool:
        """True if the last activation is the loss's link, so the loss takes Z⁽ᴸ⁾ (eq. 11.6).

        Compared by identity with the built-in activation: a user's (h, dh) pair whose h
        happens to be named ``sigmoid`` is differentiated through, never assumed canonical.
        """
        return self.layers[-1].activation is ACTIVATIONS[loss.link]

    def evaluate(self, X, T, loss, weight_decay=0.0, weights=None, ws=None):
        """``(J, error)`` for device arrays X and prepared targets T (forward pass and
        loss only): the mean cost (plus λ/2 Σₗ‖W⁽ˡ⁾‖² when ``weight_decay`` = λ > 0) and
        the misclassification rate (None for regression losses), as 0-d device arrays."""
        fold = self.folds(loss)
        Z = self.forward(X, fold_last=fold, ws=ws)[0][-1]
        J, _, error = loss.evaluate(self.ops, Z, T, weights=weights,
                                    out=_buffer(ws, "dZ", tuple(Z.shape), self.dtype))
        return self.penalised(J, weight_decay), error

    def penalised(self, J, weight_decay):
        """J + λ/2 Σₗ‖W⁽ˡ⁾‖² (seed 000, §11.3), or J when λ = 0."""
        if not weight_decay:
            return J
        return J + (weight_decay / 2) * sum(self.ops.sum_squares(layer.W) for layer in self.layers)

    # -- Algorithm 6.1 --------------------------------------------------------------
    def backprop(self, X, y, loss, weight_decay=0.0, sample_weight=None):
        """Algorithm 6.1 on one mini-batch: mean cost J(θ) and [(dW⁽ˡ⁾, db⁽ˡ⁾)] per layer.

        ``weight_decay = λ > 0`` adds λ/2 Σₗ‖W⁽ˡ⁾‖² to J and λW⁽ˡ⁾ to dW⁽ˡ⁾ (seed 000, §11.3;
        biases are not decayed; λ multiplies the *mean* cost, it is not divided by n).
        ``sample_weight`` (n non-negative numbers, not all 0) makes J the weighted mean
        Σᵢ sᵢLᵢ / Σᵢ sᵢ; ``weight_decay`` may then be a callable of Σᵢ sᵢ (`bp.PerSample`),
        as in `fit`. J is a 0-d array on the model's device (``float(J)`` reads it).
        """
        loss = _losses.get(loss)
        if not callable(weight_decay):
            check_number("weight_decay", weight_decay, lambda v: v >= 0, "a number >= 0")
        with self.backend.context():
            X = self.inputs(X)
            T = self.targets(y, loss, X.shape[0])
            s = self.sample_weights(sample_weight, X.shape[0])
            total = X.shape[0] if s is None else float(to_host(self.xp.sum(s)))
            weights = None if s is None else s / total
            decay = _optim.decay(weight_decay, total)
            return self.gradients(X, T, loss, decay, weights=weights, ws=Workspace(self.ops))[:2]

    def sample_weights(self, sample_weight, n_samples, name="sample_weight"):
        """``sample_weight`` as a (n,) array of the model's dtype on its device: one finite
        weight ≥ 0 per sample, with a positive sum (the weights of the losses' weighted
        mean, `backprop.losses`), or None when ``sample_weight`` is None."""
        if sample_weight is None:
            return None
        xp = self.xp
        s = self.backend.asarray(sample_weight, name=name)
        if s.ndim != 1 or s.shape[0] != n_samples:
            raise BackpropError(f"{name} must have shape ({n_samples},), one weight per "
                                f"sample; got shape {tuple(s.shape)}")
        if not (xp.isdtype(s.dtype, "real floating") or xp.isdtype(s.dtype, "integral")
                or xp.isdtype(s.dtype, "bool")):
            raise BackpropTypeError(f"{name} must be numeric; got dtype {s.dtype}")
        s = xp.astype(s, self.dtype)
        if not _all_finite(xp, s) or bool(xp.any(s < 0)) or not bool(xp.sum(s) > 0):
            raise BackpropError(
                f"{name} must be finite and non-negative with a positive sum; got values from "
                f"{float(xp.min(s)):g} to {float(xp.max(s)):g}, sum {float(xp.sum(s)):g}")
        return s

    def gradients(self, X, T, loss, weight_decay=0.0, weights=None, ws=None, rate=None,
                  scale=1.0):
        """Algorithm 6.1 for device arrays ``X`` and prepared targets ``T`` (no checks).

        Returns ``(J, grads, error)``: the cost, [(dW⁽ˡ⁾, db⁽ˡ⁾)] per layer and the
        mini-batch's misclassification rate (None for regression losses), measured before
        any update. ``weights``: normalised sample weights (`backprop.losses`); ``ws``: a
        `Workspace` whose buffers receive the arrays (the gradients included).

        Forward: lines 1–6. Cost and output error: lines 7–13 (the loss). Backward,
        for l = L, …, 1: dZ = dQ ⊙ h′(Z) (line 16, 6.27a; skipped when the loss folds
        the last activation), dQ⁽ˡ⁻¹⁾ = dZ W (line 17, 6.27b; not for l = 1, where nobody
        needs it), dW = dZᵀQ⁽ˡ⁻¹⁾ (line 18) and db = Σᵢ dZᵢ (line 19). The 1/n_b of
        lines 18–19 is already in the loss's dZ⁽ᴸ⁾.

        ``scale`` multiplies dZ⁽ᴸ⁾ and so, the backward pass being linear in it, every
        gradient (J is not scaled): with −γ the gradients are the SGD step −γ∇θJ itself,
        which data-parallel training sums over the ranks (`backprop.step`).

        With a learning ``rate`` γ the gradient step θ ← θ − γ∇θJ (6.23a) is taken inside
        the backward pass instead, and ``grads`` is None: dZ⁽ᴸ⁾ is scaled by −γ, so line 18
        yields −γ dW and W ← (1 − γλ)W + (−γ dZ)ᵀQ⁽ˡ⁻¹⁾ is one gemm with β = 1 − γλ, taken
        after dQ⁽ˡ⁻¹⁾ has used the old W. This writes W and b in place on the buffered
        backends: `fit` does it on the copies it owns.
        """
        ops, layers, L, n = self.ops, self.layers, len(self.layers), X.shape[0]
        fold = self.folds(loss)
        Qs, Zs = self.forward(X, fold_last=fold, ws=ws)
        J, dQ, error = loss.evaluate(ops, Qs[-1], T, weights=weights,
                                     scale=scale if rate is None else -rate,
                                     out=_buffer(ws, "dZ", (n, self.n_outputs), self.dtype))
        J = self.penalised(J, weight_decay)
        grads = []
        for l in range(L, 0, -1):
            layer = layers[l - 1]
            dZ = dQ if l == L and fold else layer.activation.backward(ops, dQ, Zs[l - 1], Qs[l],
                                                                      out=dQ)
            if l > 1:
                dQ = ops.gemm(dZ, layer.W, out=_buffer(ws, ("dQ", l - 1), (n, layer.n_in),
                                                       self.dtype))
            if rate is None:
                dW = ops.gemm(dZ, Qs[l - 1], trans_a=True, out=_like(ws, ("dW", l), layer.W))
                if weight_decay:
                    dW = ops.add_scaled(dW, weight_decay, layer.W)
                grads.append((dW, ops.sum_rows(dZ, out=_like(ws, ("db", l), layer.b))))
            else:
                layer.W = ops.gemm(dZ, Qs[l - 1], trans_a=True, beta=1.0 - rate * weight_decay,
                                   out=layer.W)
                layer.b = ops.sum_rows(dZ, beta=1.0, out=layer.b)
        return J, (grads[::-1] if rate is None else None), error

    # -- θ (6.17) ---------------------------------------------------------------------
    def get_flat(self):
        """θ = [vec(W⁽¹⁾)ᵀ, b⁽¹⁾ᵀ, …, vec(W⁽ᴸ⁾)ᵀ, b⁽ᴸ⁾ᵀ]ᵀ (6.17) as a 1-D array.

        vec stacks the columns of W (the standard vec operator): W⁽ˡ⁾[i, j] sits at
        offset + j·U⁽ˡ⁾ + i, where offset counts the parameters of the layers before.
        """
        return self.flatten([(layer.W, layer.b) for layer in self.layers])

    def parameters(self) -> list:
        """[W⁽¹⁾, b⁽¹⁾, …, W⁽ᴸ⁾, b⁽ᴸ⁾]: the model's own arrays (not copies)."""
        return [p for layer in self.layers for p in (layer.W, layer.b)]

    def set_parameters(self, params):
        """Make ``params`` (in the order of `parameters`) the model's arrays, without copying."""
        for l, layer in enumerate(self.layers):
            layer.W, layer.b = params[2 * l], params[2 * l + 1]

    def flatten(self, pairs):
        """Concatenate per-layer (W, b) pairs, e.g. the gradients, in the order of θ (6.17)."""
        xp = self.xp
        return xp.concat([part for W, b in pairs for part in (xp.reshape(W.T, (-1,)), b)])

    def set_flat(self, theta):
        """Set all parameters from θ in the order of `get_flat` (a copy is taken)."""
        xp = self.xp
        theta = self.backend.asarray(theta, name="theta", dtype=self.dtype)
        if theta.ndim != 1 or theta.shape[0] != self.n_params:
            raise BackpropError(
                f"theta must be a 1-D array of {self.n_params} parameters; got shape "
                f"{tuple(theta.shape)}")
        offset = 0
        for layer in self.layers:
            n_w = layer.n_out * layer.n_in
            W = xp.reshape(theta[offset:offset + n_w], (layer.n_in, layer.n_out)).T
            layer.W = xp.asarray(W, copy=True)
            layer.b = xp.asarray(theta[offset + n_w:offset + layer.n_params], copy=True)
            offset += layer.n_params

    # -- pickling ---------------------------------------------------------------------
    def __getstate__(self):
        """The device (a `Backend` pickles as its spec: no module object), the dtype's name
        and per layer (n_in, n_out, activation, W, b) with host arrays."""
        return {"backend": self.backend, "dtype": _dtype_name(self.dtype),
                "layers": [(layer.n_in, layer.n_out, layer.activation, to_host(layer.W),
                            to_host(layer.b)) for layer in self.layers]}

    def __setstate__(self, state):
        """Rebuild the network on the pickled device (an error if it is not available)."""
        self.backend = state["backend"]
        self.ops = _ops.for_backend(self.backend)
        self.dtype = self.backend.dtype(state["dtype"])
        self.layers = []
        with self.backend.context():
            for n_in, n_out, activation, W, b in state["layers"]:
                layer = Dense(n_in, n_out, activation)
                layer.W = self.backend.asarray(W, name="W", dtype=self.dtype)
                layer.b = self.backend.asarray(b, name="b", dtype=self.dtype)
                self.layers.append(layer)

    def __repr__(self):
        layers = ", ".join(map(repr, self.layers))
        return f"Sequential([{layers}], device={self.device!r}, dtype={self.dtype})"

    def summary(self, print_fn=print):
        """Print a table of the layers, as Keras's ``model.summary()`` does: each layer's
        output shape (None = any number of samples), activation and parameters
        (n_out·n_in weights + n_out biases), the total, device and dtype.

        ``print_fn`` receives the whole text (e.g. ``print_fn=lines.append``).
        """
        sizes = "-".join(str(n) for n in [self.n_inputs] + [layer.n_out for layer in self.layers])
        rows = [("Layer (type)", "Output shape", "Activation", "Param #")]
        for l, layer in enumerate(self.layers, start=1):
            rows.append((f"dense_{l} (Dense)", f"(None, {layer.n_out})", layer.activation.name,
                         f"{layer.n_params:,}"))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = ["  ".join(cell.rjust(w) if i == 3 else cell.ljust(w)
                           for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
                 for row in rows]
        rule = "-" * max(map(len, lines))
        bits = self.xp.finfo(self.dtype).bits
        print_fn("\n".join([
            f"Sequential {sizes}: input (None, {self.n_inputs}), {self.backend.name} on "
            f"{self.device}, float{bits}",
            rule, lines[0], rule, *lines[1:], rule,
            f"Total params: {self.n_params:,} ({_bytes(self.n_params * bits // 8)})"]))


def _bytes(n: int) -> str:
    """A byte count for people: 621.1 KiB."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024

def _buffer(ws, name, shape, dtype):
    """The workspace's buffer, or None without a workspace."""
    return None if ws is None else ws.get(name, shape, dtype)


def _like(ws, name, x):
    return None if ws is None else ws.like(name, x)


def _all_finite(xp, X) -> bool:
    """True if every entry of X is finite (one read-back). A finite sum proves it in one
    pass without a temporary; only a non-finite sum (NaN, ±Inf or an overflow of the sum
    itself) needs the element-wise check."""
    return bool(xp.isfinite(xp.sum(X))) or bool(xp.all(xp.isfinite(X)))


def _count_nonfinite(xp, X) -> int:
    return int(xp.sum(xp.astype(~xp.isfinite(X), xp.int64)))


def _dtype_name(dtype) -> str:
    """``float32`` for numpy.float32, torch.float32, array_api_strict.float32, …"""
    return getattr(dtype, "__name__", None) or str(dtype).rsplit(".", 1)[-1]
