"""Issue 12, small input checks: NumPy integer scalars count as ints, a (namespace, device)
pair compares devices as its library does, and a Dense object serves one network only."""

import numpy as np
import pytest

import backprop as bp
from backprop.device import to_host
from backprop.errors import check_positive_int

X = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
Y = np.arange(10) % 2


def theta(net):
    return to_host(net.get_flat())


@pytest.mark.parametrize("integer", [np.int64, np.int32, np.uint8])
def test_numpy_integer_scalars_are_accepted_where_ints_are(integer):
    net = bp.Sequential([bp.Dense(integer(3), integer(4), "tanh"), bp.Dense(4, 2)],
                        seed=integer(5))
    reference = bp.Sequential([bp.Dense(3, 4, "tanh"), bp.Dense(4, 2)], seed=5)
    assert theta(net).tobytes() == theta(reference).tobytes()
    assert type(net.layers[0].n_in) is int
    opt = bp.SGD(lr=bp.StepDecay(0.1, every=integer(3)))
    history = bp.fit(net, "cross_entropy", opt, X, Y, epochs=integer(2), batch_size=integer(5),
                     eval_every=integer(2), validation_data=(X, Y), initial_epoch=integer(0),
                     callbacks=[bp.EarlyStopping(patience=integer(2))])
    same = bp.fit(reference, "cross_entropy", bp.SGD(lr=bp.StepDecay(0.1, every=3)), X, Y,
                  epochs=2, batch_size=5, eval_every=2, validation_data=(X, Y),
                  callbacks=[bp.EarlyStopping(patience=2)])
    assert history.as_dict() == same.as_dict()
    assert bp.Cosine(0.1, steps=integer(4))(2) == bp.Cosine(0.1, steps=4)(2)
    assert bp.gradcheck(bp.Sequential([bp.Dense(3, 2)], dtype="float64"), "mse", X,
                        np.ones((10, 2)), max_params=integer(3)) < 1e-6
    assert type(check_positive_int("n", integer(7))) is int
    assert check_positive_int("n", integer(7)) == 7


@pytest.mark.parametrize("value", [np.bool_(True), True, 2.0, np.float64(2.0)])
def test_bools_and_floats_are_still_not_ints(value):
    with pytest.raises(bp.BackpropTypeError, match="must be an int"):
        bp.Dense(value, 2)
    with pytest.raises(bp.BackpropTypeError, match="epochs must be a positive int"):
        bp.fit(bp.Sequential([bp.Dense(3, 2)]), "mse", bp.SGD(), X, np.ones((10, 2)),
               epochs=value)


def test_torch_pair_device_accepts_the_models_own_tensors():
    torch = pytest.importorskip("torch")
    net = bp.Sequential([bp.Dense(3, 2, "relu")], device=(torch, "cpu"), seed=1)
    assert net.device == torch.device("cpu") and net.layers[0].W.device == net.device
    out = net.predict(torch.asarray(X))          # refused before: "on device cpu but ... cpu"
    reference = bp.Sequential([bp.Dense(3, 2, "relu")], seed=1).predict(X)
    np.testing.assert_allclose(to_host(out), to_host(reference), rtol=1e-5, atol=1e-7)
    bp.fit(net, "mse", bp.SGD(0.1), torch.asarray(X), torch.ones(10, 2), epochs=1)
    with pytest.raises(bp.BackpropError, match="device 'nope' is not a device of"):
        bp.Sequential([bp.Dense(3, 2)], device=(torch, "nope"))


def test_strict_pair_device_is_kept():
    strict = pytest.importorskip("array_api_strict")
    other = strict.Device("device1")
    net = bp.Sequential([bp.Dense(3, 2)], device=(strict, other))
    assert net.device == other
    with pytest.raises(bp.BackpropError, match="is not a device of array_api_strict"):
        bp.Sequential([bp.Dense(3, 2)], device=(strict, "cpu"))


def test_a_dense_object_serves_one_network_only():
    shared = bp.Dense(3, 2)
    first = bp.Sequential([shared], seed=1)
    before = theta(first)
    with pytest.raises(bp.BackpropError, match=r"layer 1 \(Dense\(3, 2.*\) is already used in "
                                               r"another Sequential.*new bp\.Dense"):
        bp.Sequential([shared], seed=2)
    assert theta(first).tobytes() == before.tobytes()      # not re-initialised
    twice = bp.Dense(3, 3)
    with pytest.raises(bp.BackpropError, match="layer 2 .* already used in this list as layer 1"):
        bp.Sequential([twice, twice])
    assert twice.W is None                                 # the failed call touched nothing
    bp.Sequential([twice])                                 # so it can still be used once
