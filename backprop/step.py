"""One training iteration of `fit`: a mini-batch through Algorithm 6.1, then the update.

The rule for in-place updates, the same on every backend: **training writes only into
arrays it owns.** When `fit` starts, `Step` replaces every W and b of the model (and
the optimizer's state) with private copies (``ops.own``; on NumPy column-major W), and
from then on the buffered backends (NumPy, CuPy) update those copies in place; the
functional ones (``array_api_strict``, PyTorch, JAX, …) replace them with new arrays.
So an array taken from the model before `fit` keeps its values, and one taken during
`fit` (``layer.W`` in a callback) changes with training: copy it, or use
`Sequential.get_flat`, which always copies. Outside `fit`, nothing is written in place
(`Sequential.backprop` returns new arrays, `Optimizer.step` builds new ones).

Each iteration is ``gradients → update``: Algorithm 6.1 returns ∇θJ into the step's
buffers and the optimizer applies its update. On NumPy and CuPy θ, ∇θJ and the
optimizer's state are each one flat buffer in θ's order (6.17), of which the layers'
W and b, the step's dW and db and the optimizer's per-parameter state are views, so
the update runs over all of θ at once (`Optimizer.apply_flat`); elsewhere parameter by
parameter (`Optimizer.apply`). Plain SGD fuses the two: its update is taken inside the
backward pass (`Sequential.gradients` with ``rate``), so dW is never stored.

Data-parallel training (`backprop.distributed`) passes a ``reduce`` hook: each rank
takes its rows of the global mini-batch, Algorithm 6.1 gives their share of ∇θJ (each
row weighted by its share of the whole batch), and ``gradients → reduce → update``
sums the shares over the ranks before the update; the fusion gives way to it. Plain
SGD keeps half of it: γ is folded into the output error as in one process, so the
ranks sum their shares of the step −γ∇θJ and the update is one addition, θ += Δθ.
"""

from __future__ import annotations

from . import optim
from .device import to_host
from .ops import Workspace


class Step:
    """The iterations of one `fit` call on the data of that call."""

    def __init__(self, net, loss, optimizer, sample_weights=None, reduce=None):
        self.net, self.loss, self.optimizer = net, loss, optimizer
        ops = net.ops
        self.ws = Workspace(ops)
        self.reduce = reduce
        params = [ops.own(p) for p in net.parameters()]
        # on the buffered backends θ, its gradient and the optimizer's state are flat
        # buffers in θ's order (6.17) of which the per-parameter arrays are views
        self.theta = ops.buffer((net.n_params,), net.dtype)
        if self.theta is not None:
            params = _views(ops, self.theta, params, params)
        net.set_parameters(params)
        if reduce is not None:                    # its own flat buffer sums the gradient
            reduce.attach(net)
            self.grad = reduce.gradient
        elif self.theta is not None:
            self.grad = ops.buffer((net.n_params,), net.dtype)
        if self.theta is not None:                # dW⁽ˡ⁾, db⁽ˡ⁾ as views of the flat ∇θJ
            views = _views(ops, self.grad, params)
            for l in range(1, len(net.layers) + 1):
                self.ws.adopt(("dW", l), views[2 * l - 2])
                self.ws.adopt(("db", l), views[2 * l - 1])
        self.state = None
        if self.theta is not None and hasattr(optimizer, "apply_flat"):
            self.state = {name: _flat_state(ops, self.theta, params, optimizer, name)
                          for name in optimizer.state_names()}
        self.weights = sample_weights
        # a callable λ needs each batch's total weight on the host: read once, here
        self.host_weights = None if sample_weights is None or not callable(
            getattr(optimizer, "weight_decay", None)) else to_host(sample_weights)

    def batches(self, X, T, order, n_b):
        """Yield ``(stop, X_b, T_b, s_b, batch_weight)`` for each mini-batch of an epoch.

        ``order`` is the epoch's permutation (host integers) or None for the rows as
        they are; it is moved to the device once per epoch and each batch's rows are
        gathered into reused buffers. ``s_b`` are the batch's sample weights (or None),
        ``batch_weight`` their sum (the batch size without weights) as a host number.
        With a ``reduce`` hook, ``order`` permutes the rows of all ranks and each batch
        holds this rank's rows of it (`DataParallel.parts`); ``stop`` and
        ``batch_weight`` are those of the global batch.
        """
        ops, ws, s = self.net.ops, self.ws, self.weights
        if self.reduce is None:
            n, rows, parts = X.shape[0], order, None
        else:
            n, (rows, parts) = self.reduce.n, self.reduce.parts(order, n_b)
        index = None if rows is None else self.net.backend.asarray(rows, name="permutation")
        for k, start in enumerate(range(0, n, n_b)):
            stop = min(start + n_b, n)
            if parts is None:
                lo, hi, weight = start, stop, self._batch_weight(order, start, stop)
            else:
                lo, hi, weight = parts[k]
            if index is None:
                Xb, Tb = X[lo:hi, ...], T[lo:hi, ...]
                sb = None if s is None else s[lo:hi]
            else:
                i = index[lo:hi]
                Xb = ops.gather_rows(X, i, out=ws.get("X", (hi - lo, X.shape[1]), X.dtype))
                Tb = ops.gather_rows(T, i, out=ws.get("T", (hi - lo, T.shape[1]), T.dtype))
                sb = None if s is None else ops.gather_rows(s, i)
            yield stop, Xb, Tb, sb, weight

    def _batch_weight(self, order, start, stop) -> float:
        if self.host_weights is None:
            return stop - start
        rows = slice(start, stop) if order is None else order[start:stop]
        return float(self.host_weights[rows].sum())

    def __call__(self, X, T, s=None, batch_weight=None):
        """Algorithm 6.1 on (X, T) (sample weights ``s``) and the optimizer's update;
        returns ``(J, error)``, both measured before the update, as `fit` records them."""
        net, loss, opt, ws, reduce = self.net, self.loss, self.optimizer, self.ws, self.reduce
        decay = optim.decay(getattr(opt, "weight_decay", 0.0),
                            X.shape[0] if batch_weight is None else batch_weight)
        if reduce is None:
            weights = None if s is None else _normalised(net.xp, s)
        else:                                     # each row's share of the global batch
            weights = reduce.weights(s, X.shape[0], batch_weight)
        rate = opt.fusable_rate() if hasattr(opt, "fusable_rate") else None
        if rate is not None and reduce is None:   # the update inside the backward pass
            J, _, error = net.gradients(X, T, loss, decay, weights, ws, rate=rate)
            opt.t += 1
            return J, error
        if rate is not None:      # over the ranks: each sends its share of the step −γ∇θJ
            J, _, error = reduce(*net.gradients(X, T, loss, 0.0, weights, ws, scale=-rate),
                                 decay, scale=-rate)
            net.ops.add_scaled(self.theta, 1.0, self.grad)         # θ += Δθ, in place
            opt.t += 1
            return J, error
        if reduce is None:
            J, grads, error = net.gradients(X, T, loss, decay, weights, ws)
        else:                                     # λ once, after the sum over the ranks
            J, grads, error = reduce(*net.gradients(X, T, loss, 0.0, weights, ws), decay)
        if getattr(opt, "needs_cost", False):     # line search: J at trial θ
            opt.step(net, grads, cost=lambda: self._cost(X, T, weights, decay))
        elif self.state is not None:              # all of θ at once
            opt.apply_flat(net.ops, self.theta, self.grad, self.state)
        elif hasattr(opt, "apply"):
            opt.apply(net.ops, net, grads)
        else:                                     # a user's object with step(net, grads)
            opt.step(net, grads)
        return J, error

    def _cost(self, X, T, weights, decay):
        """J on this batch at the model's current θ (the line search's trial steps)."""
        if self.reduce is None:
            return self.net.evaluate(X, T, self.loss, decay, weights, self.ws)[0]
        J = self.net.evaluate(X, T, self.loss, 0.0, weights, self.ws)[0]
        return self.reduce.cost(J, decay)

    def evaluate(self, X, T):
        """``(J, error)`` of the model on (X, T) without weight decay (the validation
        curve), over the rows of all ranks with a ``reduce`` hook."""
        if self.reduce is None:
            return self.net.evaluate(X, T, self.loss, ws=self.ws)
        return self.reduce.evaluate(X, T, self.loss, self.ws)


def _normalised(xp, s):
    """Sample weights sᵢ/Σⱼsⱼ, on the device; all 0 for a batch of total weight 0, which
    then adds nothing (J = 0, dZ = 0)."""
    total = xp.sum(s)
    return s / xp.where(total > 0, total, 1.0)


def _views(ops, flat, like, values=None):
    """Views of consecutive segments of ``flat`` shaped and laid out like the arrays
    ``like`` (W column-major on NumPy: the vec order of 6.17), holding ``values`` if
    given."""
    views, offset = [], 0
    for a in like:
        views.append(ops.view_like(flat, offset, a))
        offset += a.size
    for view, value in zip(views, values or ()):
        ops.into(value, view)
    return views


def _flat_state(ops, theta, params, optimizer, name):
    """The optimizer's state ``name`` as one flat buffer shaped like θ (zeros where it has
    none yet), whose per-parameter views, laid out like the parameters, become the
    optimizer's own list."""
    flat = ops.zeros_like(theta)
    setattr(optimizer, name, _views(ops, flat, params, getattr(optimizer, name)))
    return [flat]
