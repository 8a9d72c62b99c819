"""Pickling and deep-copying a `Sequential` on every backend: the device as a spec, the
activations by name, the weights as host arrays (issue 10: GridSearchCV(n_jobs=2),
clone and joblib need it)."""

import copy
import pickle

import numpy as np
import pytest

import backprop as bp
from backprop.activations import ACTIVATIONS
from helpers import host


def _net(device):
    return bp.Sequential([bp.Dense(3, 5, "relu"), bp.Dense(5, 4, "arctan"), bp.Dense(4, 2, "softmax")],
                         device=device, dtype="float64", seed=3)


@pytest.mark.parametrize("copier", [lambda net: pickle.loads(pickle.dumps(net)), copy.deepcopy],
                         ids=["pickle", "deepcopy"])
def test_network_round_trip_on_every_backend(device, rng, copier):
    net = _net(device)
    X, y = rng.normal(size=(8, 3)), rng.integers(0, 2, 8)
    bp.fit(net, "cross_entropy", bp.SGD(0.1), X, y, epochs=2, batch_size=3)
    clone = copier(net)
    assert clone.backend == net.backend and clone.dtype == net.dtype
    assert [l.activation for l in clone.layers] == [l.activation for l in net.layers]
    np.testing.assert_array_equal(host(clone.get_flat()), host(net.get_flat()))
    np.testing.assert_array_equal(host(clone.predict(X)), host(net.predict(X)))
    # the copy is independent and trains exactly like the original
    for model in (net, clone):
        bp.fit(model, "cross_entropy", bp.SGD(0.1), X, y, epochs=1, batch_size=3, seed=1)
    np.testing.assert_array_equal(host(clone.get_flat()), host(net.get_flat()))


def test_network_on_torch_pickles(rng):
    torch = pytest.importorskip("torch")
    net = _net(torch)
    clone = pickle.loads(pickle.dumps(net))
    assert clone.backend == net.backend and clone.dtype == torch.float64
    X = rng.normal(size=(4, 3))
    np.testing.assert_array_equal(host(clone.predict(X)), host(net.predict(X)))


def test_built_in_activations_unpickle_to_themselves():
    """So the loss still folds the output activation and fast paths still recognise ReLU."""
    for activation in ACTIVATIONS.values():
        assert pickle.loads(pickle.dumps(activation)) is activation


def test_custom_activation_cannot_be_pickled():
    net = bp.Sequential([bp.Dense(2, 2, (lambda Z: Z ** 3, lambda Z: 3 * Z ** 2))])
    with pytest.raises(bp.BackpropError, match="custom activation '<lambda>' cannot be pickled"):
        pickle.dumps(net)
