"""Every backend operation of every implementation against the array-API reference.

Each primitive of `backprop.ops` runs on every installed backend (`any_backend`: the
ops object `for_backend` gives it, i.e. `NumpyOps`, `CupyOps` or the reference `Ops`
on strict/torch/JAX), plus `BufferedOps` on NumPy (the code NumPy and CuPy share,
without NumPy's own overrides). The result is compared with the reference `Ops` run in
float64 on NumPy from the same (dtype-rounded) inputs: in both dtypes, with and
without an ``out`` buffer, with the buffer aliasing the first input as the algorithm
uses it (activations in place), on odd shapes (one row, one column) and on
non-contiguous inputs.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import array_api_compat.numpy as np_xp
import numpy as np
import pytest

from backprop.device import resolve
from backprop.ops import BufferedOps, Ops, for_backend
from backprop.ops import buffered, generic, numpy_ops
from conftest import AnyBackend, load_backend

REFERENCE = Ops(resolve("cpu"))
TOLERANCE = {"float32": (2e-5, 2e-6), "float64": (1e-12, 1e-13)}
SHAPES = [(5, 3), (1, 4), (6, 1), (1, 1)]


class Case:
    """A backend under test: its ops and how to move host arrays there and back."""

    def __init__(self, any_backend, buffered_numpy=False):
        self.backend = any_backend
        device = resolve(any_backend.device)
        self.ops = BufferedOps(device, np) if buffered_numpy else for_backend(device)

    def put(self, a, dtype, layout="C"):
        """The host array ``a`` cast to ``dtype`` on the backend; ``layout="strided"`` gives
        a non-contiguous view (every other column of a wider array)."""
        a = np.asarray(a)
        if a.dtype.kind == "f":
            a = a.astype(dtype)
        if layout == "strided" and a.ndim:
            wide = np.repeat(a, 2, axis=-1)
            x = self.backend.asarray(wide)
            return x[..., ::2]
        return self.backend.asarray(a)

    def host(self, x):
        return np.asarray(self.backend.to_numpy(x), dtype=np.float64)


@pytest.fixture(params=["numpy", "numpy-buffered", "array_api_strict", "torch", "jax",
                        pytest.param("cupy", marks=pytest.mark.gpu)])
def case(request):
    """NumpyOps, BufferedOps (the code CuPy shares) on NumPy, the reference on the other
    namespaces, CupyOps on a GPU."""
    name = request.param.removesuffix("-buffered")
    return Case(AnyBackend(name, load_backend(name)),
                buffered_numpy=request.param.endswith("-buffered"))


def reference(name, *args, **kwargs):
    """The reference operation in float64 on NumPy (host arrays in, host arrays out)."""
    args = [np_xp.asarray(a, dtype=np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f"
            else a for a in args]
    return getattr(REFERENCE, name)(*args, **kwargs)


def rounded(a, dtype):
    """The host array as the backend sees it: rounded to ``dtype``, kept in float64."""
    return np.asarray(a).astype(dtype).astype(np.float64)


def check(case, result, expected, dtype):
    rtol, atol = TOLERANCE[dtype]
    results = result if isinstance(result, tuple) else (result,)
    expecteds = expected if isinstance(expected, tuple) else (expected,)
    assert len(results) == len(expecteds)
    for r, e in zip(results, expecteds):
        if e is None:
            assert r is None
            continue
        assert str(r.dtype).endswith(dtype)
        np.testing.assert_allclose(case.host(r), np.asarray(e, dtype=np.float64),
                                   rtol=rtol, atol=atol)


def buffer_for(case, shape, dtype, mode, first=None):
    """None, a fresh buffer from the ops, or (mode "alias") the first input itself."""
    if mode == "none":
        return None
    if mode == "alias":
        return first
    buffer = case.ops.buffer(shape, getattr(case.backend.module, dtype))
    return buffer


DTYPES = ["float32", "float64"]
LAYOUTS = ["C", "strided"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("trans_a, trans_b", [(False, False), (True, False), (False, True)])
@pytest.mark.parametrize("alpha, beta", [(1.0, 0.0), (-0.3, 0.0), (1.0, 1.0), (0.5, 0.9)])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_gemm(case, rng, dtype, shape, trans_a, trans_b, alpha, beta, layout):
    m, k = shape
    n = 3
    A = rng.normal(size=(k, m) if trans_a else (m, k))
    B = rng.normal(size=(n, k) if trans_b else (k, n))
    C = rng.normal(size=(m, n))
    expected = reference("gemm", rounded(A, dtype), rounded(B, dtype), trans_a=trans_a,
                         trans_b=trans_b, alpha=alpha, beta=beta, out=rounded(C, dtype))
    out = case.put(C, dtype) if beta else buffer_for(case, (m, n), dtype, "buffer")
    result = case.ops.gemm(case.put(A, dtype, layout), case.put(B, dtype, layout),
                           trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta, out=out)
    check(case, result, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", ["C", "F"])
def test_gemm_into_a_column_major_buffer(case, rng, dtype, order):
    """W is column-major on NumPy: the fused SGD update writes dW's product into it."""
    W = rng.normal(size=(4, 6))
    dZ, Q = rng.normal(size=(5, 4)), rng.normal(size=(5, 6))
    expected = reference("gemm", rounded(dZ, dtype), rounded(Q, dtype), trans_a=True,
                         beta=0.7, out=rounded(W, dtype))
    W_dev = case.put(np.asfortranarray(W) if order == "F" else W, dtype)
    if order == "F":
        W_dev = case.ops.own(W_dev)
    result = case.ops.gemm(case.put(dZ, dtype), case.put(Q, dtype), trans_a=True, beta=0.7,
                           out=W_dev)
    check(case, result, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_add_bias_sum_rows_sum_squares_add_scaled(case, rng, dtype, shape, layout):
    Z, b = rng.normal(size=shape), rng.normal(size=shape[1])
    out = rng.normal(size=shape[1])
    ops, put = case.ops, case.put
    Zr = rounded(Z, dtype)
    check(case, ops.add_bias(put(Z, dtype, layout), put(b, dtype),
                             out=buffer_for(case, shape, dtype, "buffer")),
          reference("add_bias", Zr, rounded(b, dtype)), dtype)
    check(case, ops.add_bias(put(Z, dtype, layout), put(b, dtype)),
          reference("add_bias", Zr, rounded(b, dtype)), dtype)
    check(case, ops.sum_rows(put(Z, dtype, layout), out=buffer_for(case, shape[1:], dtype, "buffer")),
          reference("sum_rows", Zr), dtype)
    check(case, ops.sum_rows(put(Z, dtype, layout), beta=1.0, out=put(out, dtype)),
          reference("sum_rows", Zr, beta=1.0, out=rounded(out, dtype)), dtype)
    check(case, ops.sum_rows(put(Z, dtype, layout), beta=0.5, out=put(out, dtype)),
          reference("sum_rows", Zr, beta=0.5, out=rounded(out, dtype)), dtype)
    check(case, ops.sum_squares(put(Z, dtype, layout)), reference("sum_squares", Zr), dtype)
    Y = rng.normal(size=shape)
    check(case, ops.add_scaled(put(Y, dtype), 0.3, put(Z, dtype, layout)),
          reference("add_scaled", rounded(Y, dtype), 0.3, Zr), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", ["none", "buffer"])
def test_gather_rows(case, rng, dtype, shape, mode):
    X = rng.normal(size=(shape[0] + 3, shape[1]))
    index = rng.permutation(X.shape[0])[:shape[0]]
    result = case.ops.gather_rows(case.put(X, dtype), case.backend.asarray(index),
                                  out=buffer_for(case, shape, dtype, mode))
    check(case, result, rounded(X, dtype)[index], dtype)


ACTIVATIONS = {   # name → what its backward step reads
    "relu": "Q", "sigmoid": "Q", "tanh": "Q", "softmax": "Q", "arctan": "Z"}


def activation_input(rng, shape):
    """Pre-activations with a few extreme values, kept off ReLU's kink at 0."""
    Z = rng.normal(size=shape) * 3
    Z[np.abs(Z) < 1e-3] = 0.5
    Z.flat[0] = 40.0
    Z.flat[-1] = -60.0
    return Z


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("mode", ["none", "buffer", "alias"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_activation_and_backward_step(case, rng, dtype, shape, name, mode, layout):
    if mode == "alias" and layout == "strided":
        pytest.skip("the algorithm aliases only its own contiguous buffers")
    Z, dQ = activation_input(rng, shape), rng.normal(size=shape)
    Zr = rounded(Z, dtype)
    Q_expected = reference(name, Zr)
    Z_dev = case.put(Z, dtype, layout)
    Q = getattr(case.ops, name)(Z_dev, out=buffer_for(case, shape, dtype, mode, Z_dev))
    check(case, Q, Q_expected, dtype)
    reads = ACTIVATIONS[name]
    arg = rounded(case.host(Q), dtype) if reads == "Q" else Zr
    expected = reference(name + "_backward", rounded(dQ, dtype), arg)
    dQ_dev = case.put(dQ, dtype, layout)
    second = Q if reads == "Q" else case.put(Z, dtype, layout)
    dZ = getattr(case.ops, name + "_backward")(
        dQ_dev, second, out=buffer_for(case, shape, dtype, mode, dQ_dev))
    check(case, dZ, expected, dtype)


def weights_for(rng, n, weighted):
    if not weighted:
        return None
    s = rng.uniform(0.1, 2.0, size=n)
    return s / s.sum()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 3), (1, 4), (6, 2), (1, 2)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("scale", [1.0, -0.25])
@pytest.mark.parametrize("mode", ["none", "buffer"])
@pytest.mark.parametrize("targets", ["labels", "rows"])
def test_softmax_cross_entropy(case, rng, dtype, shape, weighted, scale, mode, targets):
    n, M = shape
    Z = rng.normal(size=shape) * 4
    if targets == "labels":
        T = np.eye(M)[rng.integers(0, M, n)]
    else:
        T = rng.uniform(size=shape)
        T /= T.sum(axis=1, keepdims=True)
    w = weights_for(rng, n, weighted)
    expected = reference("softmax_cross_entropy", rounded(Z, dtype), rounded(T, dtype),
                         weights=None if w is None else np_xp.asarray(rounded(w, dtype)),
                         scale=scale)
    result = case.ops.softmax_cross_entropy(
        case.put(Z, dtype), case.put(T, dtype), weights=None if w is None else case.put(w, dtype),
        scale=scale, out=buffer_for(case, shape, dtype, mode))
    check(case, result, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("scale", [1.0, -0.25])
@pytest.mark.parametrize("mode", ["none", "buffer"])
@pytest.mark.parametrize("loss", ["squared_error", "half_squared_error", "sigmoid_cross_entropy"])
def test_regression_and_sigmoid_losses(case, rng, dtype, shape, weighted, scale, mode, loss):
    Z = rng.normal(size=shape) * 3
    T = rng.uniform(size=shape) if loss == "sigmoid_cross_entropy" else rng.normal(size=shape)
    w = weights_for(rng, shape[0], weighted)
    kwargs = {"half": True} if loss == "half_squared_error" else {}
    name = "squared_error" if "squared" in loss else loss
    expected = reference(name, rounded(Z, dtype), rounded(T, dtype),
                         weights=None if w is None else np_xp.asarray(rounded(w, dtype)),
                         scale=scale, **kwargs)
    result = getattr(case.ops, name)(
        case.put(Z, dtype), case.put(T, dtype), weights=None if w is None else case.put(w, dtype),
        scale=scale, out=buffer_for(case, shape, dtype, mode), **kwargs)
    check(case, result, expected, dtype)      # (J, dZ), and the error rate for sigmoid CE


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 3), (1, 1), (5,)])
@pytest.mark.parametrize("update", ["sgd", "momentum", "nesterov", "adam"])
def test_optimizer_updates(case, rng, dtype, shape, update):
    """Two consecutive updates (the state carries over), gradients consumed or not."""
    theta = rng.normal(size=shape)
    grads = [rng.normal(size=shape) for _ in range(2)]
    ref_theta, ref_state = rounded(theta, dtype), [np.zeros(shape), np.zeros(shape)]
    dev_theta = case.put(theta, dtype)
    dev_state = [case.ops.zeros_like(dev_theta), case.ops.zeros_like(dev_theta)]
    for t, g in enumerate(grads, start=1):
        g_ref, g_dev = rounded(g, dtype), case.put(g, dtype)
        if update == "sgd":
            ref_theta = reference("sgd_update", ref_theta, g_ref, 0.1)
            dev_theta = case.ops.sgd_update(dev_theta, g_dev, 0.1)
        elif update in ("momentum", "nesterov"):
            nesterov = update == "nesterov"
            ref_theta, ref_state[0] = reference("momentum_update", ref_theta, ref_state[0], g_ref,
                                                0.1, 0.9, nesterov)
            dev_theta, dev_state[0] = case.ops.momentum_update(dev_theta, dev_state[0], g_dev,
                                                               0.1, 0.9, nesterov)
            check(case, dev_state[0], ref_state[0], dtype)
        else:
            ref_theta, *ref_state = reference("adam_update", ref_theta, *ref_state, g_ref,
                                              0.01, 0.9, 0.999, 1e-8, t)
            dev_theta, *dev_state = case.ops.adam_update(dev_theta, *dev_state, g_dev,
                                                         0.01, 0.9, 0.999, 1e-8, t)
            check(case, tuple(dev_state), tuple(ref_state), dtype)
        check(case, dev_theta, ref_theta, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_buffers_own_and_into(case, rng, dtype):
    ops = case.ops
    W = case.put(rng.normal(size=(3, 4)), dtype)
    owned = ops.own(W)
    np.testing.assert_array_equal(case.host(owned), case.host(W))
    np.testing.assert_array_equal(case.host(ops.zeros_like(W)), 0.0)
    buffer = ops.buffer((3, 4), W.dtype)
    if buffer is None:             # the functional reference: nothing is written in place
        assert owned is W and ops.buffer_like(W) is None and ops.into(W, None) is W
        return
    assert owned is not W and tuple(buffer.shape) == (3, 4) and buffer.dtype == W.dtype
    assert tuple(ops.buffer_like(owned).shape) == (3, 4)
    assert ops.into(W, buffer) is buffer
    np.testing.assert_array_equal(case.host(buffer), case.host(W))
    before = case.host(W)
    owned += 1                      # a private copy: the original is untouched
    np.testing.assert_array_equal(case.host(W), before)


# -- every implementation has the reference's signatures ----------------------------------
def _methods(path: Path, class_name: str) -> dict:
    """{method: (argument names, default values as source)} of a class, read from source
    (CuPy's ops are checked too, without importing CuPy)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    cls = next(node for node in tree.body if isinstance(node, ast.ClassDef)
               and node.name == class_name)
    methods = {}
    for node in cls.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("__"):
            args = node.args
            names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
            defaults = [ast.unparse(d) for d in args.defaults + [d for d in args.kw_defaults if d]]
            methods[node.name] = (names, defaults, [a.arg for a in args.kwonlyargs])
    return methods


def test_every_implementation_has_the_reference_signatures():
    folder = Path(generic.__file__).parent
    ref = _methods(folder / "generic.py", "Ops")
    public = {name for name in ref if not name.startswith("_")}
    assert {"gemm", "add_bias", "sum_rows", "relu", "relu_backward", "softmax_cross_entropy",
            "gather_rows", "sgd_update", "momentum_update", "adam_update", "buffer"} <= public
    for path, name in [(folder / "buffered.py", "BufferedOps"),
                       (folder / "numpy_ops.py", "NumpyOps"),
                       (folder / "cupy_ops.py", "CupyOps")]:
        for method, signature in _methods(path, name).items():
            if method in ref:
                assert signature == ref[method], f"{name}.{method} differs from Ops.{method}"
            else:
                assert method.startswith("_"), f"{name}.{method} is not an operation of Ops"
    assert issubclass(numpy_ops.NumpyOps, buffered.BufferedOps)
    assert inspect.signature(BufferedOps.gemm) == inspect.signature(Ops.gemm)
