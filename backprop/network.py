"""Sequential: a feedforward network of Dense layers and Algorithm 6.1 (backpropagation).

The forward pass caches Z⁽ˡ⁾ and Q⁽ˡ⁾ (6.24); the backward pass runs (6.26)–(6.27)
on the whole mini-batch in matrix form (6.28) and returns J(θ) and, per layer,
(dW⁽ˡ⁾, db⁽ˡ⁾). The parameter vector θ follows (6.17).
"""

from __future__ import annotations

from . import losses as _losses
from . import optim as _optim
from .activations import ACTIVATIONS
from .device import Random, fastpath, resolve, to_host
from .errors import BackpropError, BackpropTypeError
from .layers import Dense


class Sequential:
    """Layers applied in order: Q⁽⁰⁾ = X, Q⁽ˡ⁾ = h(Q⁽ˡ⁻¹⁾W⁽ˡ⁾ᵀ + b⁽ˡ⁾ᵀ) (6.24).

    ``device`` is ``"cpu"``, ``"cuda"``, ``"cuda:N"``, an array-API namespace or a
    ``(namespace, device)`` pair (see `backprop.device`); ``dtype`` is ``"float32"``
    (default) or ``"float64"``; ``seed`` fixes the initial weights on every backend.

    A network pickles (and `copy.deepcopy`s) on any device: the state is the device
    (`Backend` pickles as its device spec), the dtype's name, and per layer its sizes,
    activation name and weights as host NumPy arrays; unpickling moves the weights back
    to that device. Custom (function, derivative) activations cannot be pickled.
    """

    def __init__(self, layers, device="cpu", dtype="float32", seed=0):
        if not isinstance(layers, (list, tuple)) or not layers or not all(
                isinstance(layer, Dense) for layer in layers):
            raise BackpropTypeError(
                f"layers must be a non-empty list of bp.Dense layers; got {layers!r}")
        layers = list(layers)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise BackpropTypeError(f"seed must be an int >= 0 or None; got {seed!r}")
        for l, (a, b) in enumerate(zip(layers, layers[1:]), start=1):
            if a.n_out != b.n_in:
                raise BackpropError(
                    f"layer sizes do not chain: layer {l} has {a.n_out} outputs but layer "
                    f"{l + 1} expects {b.n_in} inputs")
        self.layers = layers
        self.backend = resolve(device)
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
        """``X`` as a (n, n_inputs) array of the model's dtype on the model's device."""
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
        # A finite sum proves every entry finite, in one pass and without a temporary
        # array; only a non-finite sum (NaN, ±Inf or an overflow) needs the element check.
        if not bool(xp.isfinite(xp.sum(X))) and not bool(xp.all(xp.isfinite(X))):
            bad = int(xp.sum(xp.astype(~xp.isfinite(X), xp.int64)))
            raise BackpropError(f"{name} must contain only finite values; got {bad} NaN/Inf entries")
        return xp.astype(X, self.dtype) if X.dtype != self.dtype else X

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

    def sample_weights(self, w, n_samples: int, name="sample_weight"):
        """``w`` as a (n,) array of the model's dtype on its device: one finite weight ≥ 0
        per sample, with a positive sum (the weights of the losses' weighted mean)."""
        w = self.backend.asarray(w, name=name)
        xp = self.xp
        if w.ndim != 1 or w.shape[0] != n_samples:
            raise BackpropError(
                f"{name} must have shape ({n_samples},), one weight per sample; got shape "
                f"{tuple(w.shape)}")
        if not (xp.isdtype(w.dtype, "real floating") or xp.isdtype(w.dtype, "integral")
                or xp.isdtype(w.dtype, "bool")):
            raise BackpropTypeError(f"{name} must be numeric; got dtype {w.dtype}")
        w = xp.astype(w, self.dtype)
        if not bool(xp.all(xp.isfinite(w))) or bool(xp.any(w < 0)) or not bool(xp.sum(w) > 0):
            raise BackpropError(
                f"{name} must be finite and non-negative with a positive sum; got values from "
                f"{float(xp.min(w)):g} to {float(xp.max(w)):g}, sum {float(xp.sum(w)):g}")
        return w

    # -- forward --------------------------------------------------------------------
    def predict(self, X):
        """The network's output Q⁽ᴸ⁾ = h(Z⁽ᴸ⁾) for the rows of X (6.24); logits if h = identity."""
        with self.backend.context():
            return fastpath.predict(self, self.inputs(X))

    __call__ = predict

    def forward(self, X, fold_last=False):
        """Forward propagation (Algorithm 6.1 lines 1–6) caching Q⁽⁰⁾…Q⁽ᴸ⁾ and Z⁽¹⁾…Z⁽ᴸ⁾.

        With ``fold_last`` the last activation is not applied (line 5 skipped for l = L):
        the loss applies it itself, from the logits. Returns ``(Qs, Zs)``.
        """
        xp = self.xp
        Qs, Zs = [X], []
        for l, layer in enumerate(self.layers, start=1):
            Z = layer.forward(Qs[-1])
            Zs.append(Z)
            Qs.append(Z if fold_last and l == len(self.layers) else layer.activation.forward(xp, Z))
        return Qs, Zs

    def folds(self, loss) -> bool:
        """True if the last activation is the loss's link, so the loss takes Z⁽ᴸ⁾ (eq. 11.6).

        Compared by identity with the built-in activation: a user's (h, dh) pair whose h
        happens to be named ``sigmoid`` is differentiated through, never assumed canonical.
        """
        return self.layers[-1].activation is ACTIVATIONS[loss.link]

    def loss_input(self, X, loss):
        """What the loss is evaluated on: Z⁽ᴸ⁾ if the link folds into the loss, else Q⁽ᴸ⁾."""
        return self.forward(X, fold_last=self.folds(loss))[0][-1]

    # -- Algorithm 6.1 --------------------------------------------------------------
    def backprop(self, X, y, loss, weight_decay=0.0, sample_weight=None):
        """Algorithm 6.1 on one mini-batch: mean cost J(θ) and [(dW⁽ˡ⁾, db⁽ˡ⁾)] per layer.

        ``weight_decay = λ > 0`` adds λ/2 Σₗ‖W⁽ˡ⁾‖² to J and λW⁽ˡ⁾ to dW⁽ˡ⁾ (seed 000, §11.3;
        biases are not decayed; λ multiplies the *mean* cost, it is not divided by n).
        It may also be a callable of the batch's total sample weight (`optim.BatchScaledDecay`).
        ``sample_weight`` (one weight ≥ 0 per row) makes J the weighted mean Σᵢ wᵢLᵢ/Σᵢ wᵢ
        (see `backprop.losses`). J is a 0-d array on the model's device (``float(J)`` reads it).
        """
        loss = _losses.get(loss)
        weight_decay = _optim.check_weight_decay(weight_decay)
        with self.backend.context():
            X = self.inputs(X)
            T = self.targets(y, loss, X.shape[0])
            w, total = None, X.shape[0]
            if sample_weight is not None:
                w = self.sample_weights(sample_weight, X.shape[0])
                total = float(to_host(self.xp.sum(w)))
            return self.gradients(X, T, loss, _optim.decay_for(weight_decay, total), w)[:2]

    def gradients(self, X, T, loss, weight_decay=0.0, w=None):
        """Algorithm 6.1 for device arrays ``X`` and prepared targets ``T`` (no checks);
        ``w``: the rows' sample weights (device array) or None.

        Returns ``(J, grads, out)`` where ``out`` is what the loss was evaluated on
        (see `loss_input`), so callers can score the mini-batch without a second pass.

        Forward: lines 1–6. Cost and output error: lines 7–13 (the loss). Backward,
        for l = L, …, 1: dZ = dQ ⊙ h′(Z) (line 16, 6.27a; skipped when the loss folds
        the last activation), dW = dZᵀQ⁽ˡ⁻¹⁾ (line 18), db = Σᵢ dZᵢ (line 19), and
        dQ⁽ˡ⁻¹⁾ = dZ W (line 17, 6.27b), not computed for l = 1 where nobody needs it.
        The 1/n_b of lines 18–19 is already in the loss's dZ⁽ᴸ⁾.
        """
        xp = self.xp
        fold = self.folds(loss)
        Qs, Zs = self.forward(X, fold_last=fold)
        J, dQ = loss.cost_and_gradient(xp, Qs[-1], T, *(() if w is None else (w,)))
        grads = []
        for l in range(len(self.layers), 0, -1):
            layer = self.layers[l - 1]
            if l == len(self.layers) and fold:
                dZ = dQ
            else:
                dZ = layer.activation.backward(xp, dQ, Zs[l - 1], Qs[l])
            dW = dZ.T @ Qs[l - 1]
            db = xp.sum(dZ, axis=0)
            if weight_decay:
                dW = dW + weight_decay * layer.W
            grads.append((dW, db))
            if l > 1:
                dQ = dZ @ layer.W
        if weight_decay:
            J = J + (weight_decay / 2) * sum(xp.sum(layer.W * layer.W) for layer in self.layers)
        return J, grads[::-1], Qs[-1]

    # -- θ (6.17) ---------------------------------------------------------------------
    def get_flat(self):
        """θ = [vec(W⁽¹⁾)ᵀ, b⁽¹⁾ᵀ, …, vec(W⁽ᴸ⁾)ᵀ, b⁽ᴸ⁾ᵀ]ᵀ (6.17) as a 1-D array.

        vec stacks the columns of W (the standard vec operator): W⁽ˡ⁾[i, j] sits at
        offset + j·U⁽ˡ⁾ + i, where offset counts the parameters of the layers before.
        """
        return self.flatten([(layer.W, layer.b) for layer in self.layers])

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
        """The device (a `Backend`, pickled as its spec), the dtype's name and per layer
        (n_in, n_out, activation, W, b) with host arrays: no module or device array."""
        name = "float64" if self.dtype == self.xp.float64 else "float32"
        return {"backend": self.backend, "dtype": name,
                "layers": [(layer.n_in, layer.n_out, layer.activation, to_host(layer.W),
                            to_host(layer.b)) for layer in self.layers]}

    def __setstate__(self, state):
        """Rebuild the network on the pickled device (an error if it is not available)."""
        self.backend = state["backend"]
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
