"""Issue 12, the training side: fail before doing work, leave the model as it was, and
let no floating-point warning reach the user.

Grouped as the issue groups them; each test checks the model is untouched after a
refused call (its θ bit for bit).
"""

import warnings

import array_api_strict
import numpy as np
import pytest

import backprop as bp
from helpers import host

RNG = np.random.default_rng(5)
X = RNG.normal(size=(30, 3))
Y = RNG.integers(0, 2, 30)


def _net(device="cpu", dtype="float32"):
    return bp.Sequential([bp.Dense(3, 4, "relu"), bp.Dense(4, 2)], device=device, dtype=dtype)


def _refused(call, net, error, match):
    before = host(net.get_flat()).copy()
    with pytest.raises(error, match=match):
        call()
    np.testing.assert_array_equal(host(net.get_flat()), before)


# -- check what the model will compute on ------------------------------------------------
def test_float64_values_beyond_float32_are_refused_by_a_float32_model():
    net = _net()
    big = X.copy()
    big[3, 1] = 1e39                     # finite in float64, inf in float32
    for call in (lambda: net.predict(big),
                 lambda: bp.fit(net, "cross_entropy", bp.SGD(0.1), big, Y),
                 lambda: bp.fit(net, "cross_entropy", bp.SGD(0.1), X, Y,
                                validation_data=(big, Y))):
        _refused(call, net, bp.BackpropError, r"1 values too large for float32 .*dtype='float64'")
    assert np.isfinite(bp.Sequential([bp.Dense(3, 2)], dtype="float64").predict(big)).all()


def test_valid_input_whose_sum_overflows_passes_without_warnings():
    data = np.full((4, 3), 3e38, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = bp.Sequential([bp.Dense(3, 2)]).predict(data)
    assert out.shape == (4, 2)


# -- no floating-point warnings, on every backend ----------------------------------------
@pytest.mark.parametrize("device", ["cpu", array_api_strict])
def test_a_diverging_run_raises_one_clear_error_and_no_warnings(device):
    rng = np.random.default_rng(0)
    Xr, yr = rng.normal(size=(64, 3)) * 10, rng.normal(size=(64, 1))
    net = bp.Sequential([bp.Dense(3, 8, "relu"), bp.Dense(8, 1)], device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(bp.DivergenceError, match="training diverged"):
            bp.fit(net, "mse", bp.SGD(50.0), Xr, yr, epochs=5, batch_size=8)
    assert np.isfinite(host(net.get_flat())).all()


# -- fail before doing work ----------------------------------------------------------------
@pytest.mark.parametrize("seed, error", [(-1, bp.BackpropTypeError), (1.5, bp.BackpropTypeError),
                                         ("0", bp.BackpropTypeError), (True, bp.BackpropTypeError)])
def test_fit_validates_its_seed(seed, error):
    net = _net()
    _refused(lambda: bp.fit(net, "cross_entropy", bp.SGD(0.1), X, Y, seed=seed), net, error,
             "seed must be an int >= 0 or None")


def test_numpy_integers_are_accepted_where_ints_are():
    net = _net()
    history = bp.fit(net, "cross_entropy", bp.SGD(0.1), X, Y, epochs=np.int64(2),
                     batch_size=np.int32(10), eval_every=np.int64(3), seed=np.int64(4),
                     validation_data=(X, Y))
    assert history.iterations == 6


@pytest.mark.parametrize("schedule, match", [
    (lambda t: "0.1", "must give a number >= 0; got '0.1'"),
    (lambda t: float("nan"), "must give a number >= 0; got nan"),
    (lambda t: -0.1, "must give a number >= 0; got -0.1"),
    (lambda t: np.array([0.1, 0.2]), "must give a number >= 0"),
])
def test_a_schedule_that_gives_no_rate_fails_before_the_first_step(schedule, match):
    net = _net()
    _refused(lambda: bp.fit(net, "cross_entropy", bp.SGD(schedule), X, Y, epochs=2), net,
             bp.BackpropError, "the learning-rate schedule .*" + match)


def test_a_weight_decay_callable_that_gives_no_number_fails_before_the_first_step():
    net = _net()
    _refused(lambda: bp.fit(net, "cross_entropy", bp.SGD(0.1, weight_decay=lambda w: None), X, Y),
             net, bp.BackpropError, "the weight decay .* must give a number >= 0; got None")


def test_a_schedule_failing_later_stops_with_the_model_of_the_last_good_step():
    """A schedule valid at t = 0 but not later: the error names the step; the θ is the
    one after the last update that had a rate."""
    net = _net()
    opt = bp.SGD(lambda t: 0.1 if t < 4 else None)
    with pytest.raises(bp.BackpropError, match="at step t=4"):
        bp.fit(net, "cross_entropy", opt, X, Y, epochs=2, batch_size=10)
    assert opt.t == 4


def test_history_of_another_kind_is_refused():
    net = _net()
    _refused(lambda: bp.fit(net, "cross_entropy", bp.SGD(0.1), X, Y, history={"cost": []}), net,
             bp.BackpropTypeError, "history must be a bp.History")
