"""Property tests (hypothesis, issue 6) over random architectures, batch sizes and dtypes:
the gradient check passes, θ round-trips through get_flat/set_flat, and predictions do
not depend on how the samples are batched."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import backprop as bp
from backprop.activations import ACTIVATIONS
from tests.helpers import random_theta

FEW = settings(max_examples=15, deadline=None)
LOSSES = {"mse": None, "cross_entropy": "softmax", "sigmoid_cross_entropy": "sigmoid"}


@st.composite
def networks(draw, dtype=st.sampled_from(["float32", "float64"]), min_outputs=1):
    """A Sequential with 1–3 Dense layers of 1–6 units (≥ min_outputs at the end),
    random activations, random seed and a random θ (nonzero biases: ReLU's kink at 0)."""
    sizes = draw(st.lists(st.integers(1, 6), min_size=2, max_size=4))
    sizes[-1] = max(sizes[-1], min_outputs)
    acts = draw(st.lists(st.sampled_from(sorted(ACTIVATIONS)),
                         min_size=len(sizes) - 1, max_size=len(sizes) - 1))
    seed = draw(st.integers(0, 2**32 - 1))
    net = bp.Sequential([bp.Dense(a, b, h) for a, b, h in zip(sizes, sizes[1:], acts)],
                        dtype=draw(dtype), seed=seed)
    net.set_flat(np.random.default_rng(seed).normal(size=net.n_params))
    return net


@FEW
@given(data=st.data(), loss=st.sampled_from(sorted(LOSSES)), n=st.integers(1, 8),
       weight_decay=st.sampled_from([0.0, 0.3]))
def test_gradcheck_passes(data, loss, n, weight_decay):
    min_outputs = 2 if loss == "cross_entropy" else 1
    net = data.draw(networks(dtype=st.just("float64"), min_outputs=min_outputs))
    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, net.n_inputs))
    random_theta(net, rng, scale=1.0, X=X)      # no ReLU input within 0.01 of its kink
    M = net.n_outputs
    y = {"mse": rng.normal(size=(n, M)), "cross_entropy": rng.integers(0, M, size=n),
         "sigmoid_cross_entropy": rng.uniform(size=(n, M))}[loss]
    assert bp.gradcheck(net, loss, X, y, weight_decay=weight_decay) < 1e-5


@FEW
@given(net=networks())
def test_get_flat_set_flat_round_trip(net):
    theta = net.get_flat()
    assert theta.shape == (net.n_params,) and theta.dtype == net.dtype
    other = np.random.default_rng(net.n_params).normal(size=net.n_params).astype(theta.dtype)
    net.set_flat(other)
    assert net.get_flat().tobytes() == other.tobytes()
    net.set_flat(theta)
    assert net.get_flat().tobytes() == theta.tobytes()
    # θ (6.17): vec stacks the columns of W, then b, layer after layer
    layer = net.layers[0]
    U = layer.n_out
    np.testing.assert_array_equal(theta[:layer.n_params],
                                  np.concatenate([layer.W.T.ravel(), layer.b]))
    if layer.n_in > 1:
        assert theta[U] == layer.W[0, 1]


@FEW
@given(net=networks(), n=st.integers(1, 12), split=st.integers(1, 12))
def test_predict_is_batch_size_invariant(net, n, split):
    X = np.random.default_rng(split).normal(size=(n, net.n_inputs)).astype(net.dtype)
    whole = net.predict(X)
    parts = np.concatenate([net.predict(X[i:i + split]) for i in range(0, n, split)])
    rows = np.concatenate([net.predict(X[i:i + 1]) for i in range(n)])
    tol = 1e-5 if net.dtype == np.float32 else 1e-12
    assert whole.shape == (n, net.n_outputs) and whole.dtype == net.dtype
    np.testing.assert_allclose(parts, whole, rtol=tol, atol=tol)
    np.testing.assert_allclose(rows, whole, rtol=tol, atol=tol)
