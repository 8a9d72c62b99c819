"""Small shared helpers for the tests."""

import numpy as np

import backprop as bp
from backprop.device import to_host

ACTIVATION_NAMES = ["identity", "relu", "sigmoid", "tanh", "arctan", "softmax"]


def random_theta(net, rng, scale=0.5, X=None):
    """Give every parameter (biases included) a random value.

    With ``X``, redraw until no ReLU pre-activation lies within 0.01 of its kink at 0,
    where h is not differentiable and a finite difference straddling it means nothing.
    """
    while True:
        net.set_flat(rng.normal(0.0, scale, net.n_params))
        if X is None:
            return
        Zs = net.forward(net.inputs(X))[1]
        if all(np.min(np.abs(host(Z))) > 0.01
               for layer, Z in zip(net.layers, Zs) if layer.activation.name == "relu"):
            return


def targets_for(loss, rng, n, m):
    """Random valid targets for ``loss`` with n samples and m outputs (host NumPy)."""
    if isinstance(loss, bp.SoftmaxCrossEntropy):
        return rng.integers(0, m, n)
    if isinstance(loss, bp.SigmoidCrossEntropy):
        return rng.uniform(size=(n, m))
    return rng.normal(size=(n, m))


def host(x):
    return to_host(x)


def np_params(net):
    """[(W, b)] as NumPy float64 arrays."""
    return [(host(layer.W).astype(np.float64), host(layer.b).astype(np.float64))
            for layer in net.layers]
