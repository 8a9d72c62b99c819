"""Sequential: forward pass, θ (6.17), initialisation, dtype and device placement."""

import numpy as np
import pytest

import backprop as bp
from tests.helpers import host


def xor_network(device="cpu"):
    """Seed 001's hand-set ReLU network: W⁽¹⁾ = 1, b⁽¹⁾ = (0, −1), W⁽²⁾ = (1, −2), b⁽²⁾ = 0."""
    net = bp.Sequential([bp.Dense(2, 2, "relu"), bp.Dense(2, 1)], device=device)
    net.set_flat([1, 1, 1, 1, 0, -1, 1, -2, 0])
    return net


def test_xor_hand_set_weights_are_exact(device):
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    net = xor_network(device)
    assert host(net(X)).ravel().tolist() == [0.0, 1.0, 1.0, 0.0]
    # The hidden layer maps (0,1) and (1,0) both to the feature point (1,0).
    Q1 = host(net.forward(net.inputs(X))[0][1])
    assert Q1.tolist() == [[0, 0], [1, 0], [1, 0], [2, 1]]


def test_parameter_counts_of_example_6_1():
    assert bp.Sequential([bp.Dense(784, 10)]).n_params == 7850
    two_layer = bp.Sequential([bp.Dense(784, 200, "relu"), bp.Dense(200, 10)])
    assert two_layer.n_params == 159_010
    assert host(two_layer.get_flat()).shape == (159_010,)


def test_flat_order_is_vec_w_then_b_per_layer(device, rng):
    """θ = [vec W⁽¹⁾, b⁽¹⁾, vec W⁽²⁾, b⁽²⁾] with vec stacking columns (6.17)."""
    net = bp.Sequential([bp.Dense(3, 2, "tanh"), bp.Dense(2, 4)], device=device, seed=3)
    theta = host(net.get_flat())
    W1, b1, W2, b2 = (host(a) for layer in net.layers for a in (layer.W, layer.b))
    expected = np.concatenate([W1.ravel(order="F"), b1, W2.ravel(order="F"), b2])
    np.testing.assert_array_equal(theta, expected)
    assert theta[0 * 2 + 1] == W1[1, 0] and theta[2 * 2 + 0] == W1[0, 2]

    new = rng.normal(size=net.n_params).astype(np.float32)
    net.set_flat(new)
    np.testing.assert_array_equal(host(net.get_flat()), new)
    new[0] = 99.0                                        # set_flat took a copy
    assert host(net.get_flat())[0] != 99.0


def test_set_flat_rejects_wrong_length():
    net = bp.Sequential([bp.Dense(3, 2)])
    with pytest.raises(bp.BackpropError, match="theta must be a 1-D array of 8"):
        net.set_flat(np.zeros(7))


def test_initialisation_is_small_scaled_and_seeded():
    """He for ReLU (std √(2/n_in)), Glorot uniform otherwise, zero biases, seed-reproducible."""
    relu = bp.Sequential([bp.Dense(784, 200, "relu"), bp.Dense(200, 10)], seed=0)
    W1, W2 = host(relu.layers[0].W), host(relu.layers[1].W)
    assert W1.std() == pytest.approx(np.sqrt(2 / 784), rel=0.02)
    limit = np.sqrt(6 / 210)
    assert np.abs(W2).max() <= limit and W2.std() == pytest.approx(limit / np.sqrt(3), rel=0.05)
    assert not host(relu.layers[0].b).any()
    again = bp.Sequential([bp.Dense(784, 200, "relu"), bp.Dense(200, 10)], seed=0)
    np.testing.assert_array_equal(host(again.get_flat()), host(relu.get_flat()))
    other = bp.Sequential([bp.Dense(784, 200, "relu"), bp.Dense(200, 10)], seed=1)
    assert not np.array_equal(host(other.get_flat()), host(relu.get_flat()))


def test_same_seed_same_weights_on_every_backend(device):
    layers = lambda: [bp.Dense(5, 4, "relu"), bp.Dense(4, 3, "tanh")]  # noqa: E731
    reference = host(bp.Sequential(layers(), seed=7).get_flat())
    np.testing.assert_array_equal(host(bp.Sequential(layers(), device=device, seed=7).get_flat()),
                                  reference)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_is_kept_everywhere(device, rng, dtype):
    """Parameters, activations, gradients, cost and predictions keep the model's dtype."""
    net = bp.Sequential([bp.Dense(4, 6, "sigmoid"), bp.Dense(6, 3, "softmax")], device=device,
                        dtype=dtype)
    X, y = rng.normal(size=(20, 4)), rng.integers(0, 3, 20)    # float64 and int64 input
    bp.fit(net, bp.SoftmaxCrossEntropy(), bp.SGD(0.1, momentum=0.9, weight_decay=1e-3), X, y,
           epochs=2, batch_size=8, validation_data=(X, y), eval_every=2)
    expected = getattr(net.xp, dtype)
    Qs, Zs = net.forward(net.inputs(X))
    J, grads = net.backprop(X, y, bp.SoftmaxCrossEntropy(), weight_decay=1e-3)
    arrays = [net.predict(X), J, *Qs, *Zs, *(a for g in grads for a in g),
              *(a for layer in net.layers for a in (layer.W, layer.b))]
    assert all(a.dtype == expected for a in arrays)


def test_predict_output_applies_the_last_activation(rng):
    net = bp.Sequential([bp.Dense(3, 4, "tanh"), bp.Dense(4, 5, "softmax")], dtype="float64")
    P = host(net.predict(rng.normal(size=(6, 3))))
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    assert (P > 0).all()


def test_layers_must_chain():
    with pytest.raises(bp.BackpropError, match="layer 1 has 4 outputs but layer 2 expects 5"):
        bp.Sequential([bp.Dense(3, 4), bp.Dense(5, 2)])


def test_unknown_activation_lists_the_valid_ones():
    with pytest.raises(bp.BackpropError, match="activation must be one of .*relu.*got 'relux'"):
        bp.Dense(2, 3, "relux")


def test_user_activation_pair(rng):
    """A (function, derivative) pair acts element-wise: here softplus and its derivative σ."""
    softplus = (lambda Z: np.log1p(np.exp(Z)), lambda Z: 1 / (1 + np.exp(-Z)))
    net = bp.Sequential([bp.Dense(2, 3, softplus), bp.Dense(3, 1)], dtype="float64")
    X = rng.normal(size=(4, 2))
    Q1 = host(net.forward(net.inputs(X))[0][1])
    W, b = host(net.layers[0].W), host(net.layers[0].b)
    np.testing.assert_allclose(Q1, np.log1p(np.exp(X @ W.T + b)))
    assert bp.gradcheck(net, "squared_error", X, rng.normal(size=(4, 1))) < 1e-6


def test_summary_lists_layers_shapes_parameters_device_and_dtype():
    net = bp.Sequential([bp.Dense(784, 200, "relu"), bp.Dense(200, 10)], dtype="float64")
    lines = []
    net.summary(print_fn=lines.append)
    text = lines[0].splitlines()
    assert text[0] == "Sequential 784-200-10: input (None, 784), numpy on cpu, float64"
    assert text[2].split() == ["Layer", "(type)", "Output", "shape", "Activation", "Param", "#"]
    assert text[4].split() == ["dense_1", "(Dense)", "(None,", "200)", "relu", "157,000"]
    assert text[5].split() == ["dense_2", "(Dense)", "(None,", "10)", "identity", "2,010"]
    assert 784 * 200 + 200 + 200 * 10 + 10 == net.n_params == host(net.get_flat()).size
    assert text[-1] == f"Total params: {net.n_params:,} ({net.n_params * 8 / 2**20:.1f} MiB)"
    assert len({len(line) for line in text[1:6:2]}) == 1    # the rules span the table
