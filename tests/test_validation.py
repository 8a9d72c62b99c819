"""Bad input to every public entry point gets a clear BackpropError / BackpropTypeError.

Each test checks the error's type and that its message names the argument, what was
expected and what was given (issue 6). Checks run before any work: a failing call
leaves the model unchanged.
"""

import numpy as np
import pytest

import backprop as bp

E, TE = bp.BackpropError, bp.BackpropTypeError


@pytest.fixture
def net():
    return bp.Sequential([bp.Dense(3, 4, "relu"), bp.Dense(4, 2, "softmax")], dtype="float64")


X = np.ones((5, 3))
LABELS = np.array([0, 1, 0, 1, 1])


def test_errors_are_value_and_type_errors():
    assert issubclass(E, ValueError)
    assert issubclass(TE, E) and issubclass(TE, TypeError)
    assert issubclass(bp.DivergenceError, E)


# -- Sequential and Dense -----------------------------------------------------------
@pytest.mark.parametrize("layers", [[], [3, 4], "dense", None])
def test_sequential_layers_must_be_dense_list(layers):
    with pytest.raises(TE, match=r"layers must be a non-empty list of bp\.Dense layers; got"):
        bp.Sequential(layers)


def test_layer_sizes_must_chain():
    with pytest.raises(E, match="layer 1 has 4 outputs but layer 2 expects 5 inputs"):
        bp.Sequential([bp.Dense(3, 4), bp.Dense(5, 2)])


def test_unknown_device():
    with pytest.raises(E, match=r"device must be 'cpu', 'cuda', 'cuda:N'.*got 'gpu'"):
        bp.Sequential([bp.Dense(3, 4)], device="gpu")
    with pytest.raises(TE, match=r"device must be .*got int 3"):
        bp.Sequential([bp.Dense(3, 4)], device=3)


def test_unknown_dtype():
    with pytest.raises(E, match="dtype must be one of float32, float64; got 'float16'"):
        bp.Sequential([bp.Dense(3, 4)], dtype="float16")


@pytest.mark.parametrize("seed", [-1, 1.5, "a", True])
def test_bad_seed(seed):
    with pytest.raises(TE, match=r"seed must be an int >= 0 or None; got"):
        bp.Sequential([bp.Dense(3, 4)], seed=seed)


@pytest.mark.parametrize("arg, value, error, message", [
    ("n_in", 2.5, TE, "Dense n_in must be an int; got float 2.5"),
    ("n_in", True, TE, "Dense n_in must be an int; got bool True"),
    ("n_out", 0, E, "Dense n_out must be a positive number of units; got 0"),
    ("n_out", -3, E, "Dense n_out must be a positive number of units; got -3"),
])
def test_dense_sizes(arg, value, error, message):
    kwargs = {"n_in": 3, "n_out": 4, arg: value}
    with pytest.raises(error, match=message):
        bp.Dense(**kwargs)


def test_unknown_activation_lists_valid_names():
    with pytest.raises(E, match=r"activation must be one of arctan, identity, relu, sigmoid, "
                                r"softmax, tanh .*got 'rleu'"):
        bp.Dense(3, 4, "rleu")
    with pytest.raises(TE, match="activation must be a name.*got int"):
        bp.Dense(3, 4, 7)


# -- inputs X (predict, backprop, fit, gradcheck share the checks) ---------------------
@pytest.mark.parametrize("bad, message", [
    (np.ones((5, 4)), r"X must have shape \(n_samples, 3\); got \(5, 4\)"),
    (np.ones(3), r"X must have shape \(n_samples, 3\); got \(3,\) \(one sample\? pass it as a "
                 r"row of shape \(1, n\)\)"),
    (np.ones((2, 3, 1)), r"X must have shape \(n_samples, 3\); got \(2, 3, 1\)"),
    (np.float64(1.0), r"X must have shape \(n_samples, 3\); got \(\)"),
])
def test_predict_shape(net, bad, message):
    with pytest.raises(E, match=message):
        net.predict(bad)


@pytest.mark.parametrize("dtype", ["int64", "uint8", "bool", "complex128"])
def test_predict_rejects_non_float_x(net, dtype):
    with pytest.raises(TE, match=f"X must hold floating-point features; got dtype {dtype}"):
        net.predict(np.ones((2, 3), dtype=dtype))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_predict_rejects_nan_inf(net, value):
    bad = np.ones((4, 3))
    bad[1, 2] = value
    bad[3, 0] = value
    with pytest.raises(E, match="X must contain only finite values; got 2 NaN/Inf entries"):
        net.predict(bad)


def test_ragged_lists(net):
    with pytest.raises(TE, match="X must be an array .* of numbers with a regular shape; got list"):
        net.predict([[1.0, 2.0, 3.0], [1.0]])


def test_array_from_another_namespace(net):
    torch = pytest.importorskip("torch")
    with pytest.raises(TE, match=r"X is a torch\.Tensor but the model uses numpy on cpu: "
                                 r"convert it to NumPy .*\.cpu\(\)\.numpy\(\)"):
        net.predict(torch.ones(2, 3, dtype=torch.float64))


def test_array_from_strict_namespace(net):
    strict = pytest.importorskip("array_api_strict")
    with pytest.raises(TE, match=r"X is a array_api_strict\..* but the model uses numpy on cpu"):
        net.predict(strict.ones((2, 3)))


def test_array_on_another_device():
    strict = pytest.importorskip("array_api_strict")
    other = strict.Device("device1")
    net = bp.Sequential([bp.Dense(3, 2)], device=(strict, other))
    with pytest.raises(E, match=r"X is on device .*CPU_DEVICE.* but the model is on "
                                r".*device1.*: move it with x\.to_device\(net\.device\)"):
        net.predict(strict.ones((2, 3)))
    assert net.predict(strict.ones((2, 3), device=other)).device == other


def test_validation_inputs_are_named(net):
    with pytest.raises(E, match=r"validation_data\[0\] must have shape \(n_samples, 3\)"):
        bp.fit(net, "cross_entropy", bp.SGD(), X, LABELS, validation_data=(np.ones((2, 2)), [0, 1]))
    with pytest.raises(E, match=r"validation_data\[1\] must have one row per sample of X \(2\)"):
        bp.fit(net, "cross_entropy", bp.SGD(), X, LABELS, validation_data=(np.ones((2, 3)), [0]))
    with pytest.raises(TE, match="validation_data must be a pair .*; got list"):
        bp.fit(net, "cross_entropy", bp.SGD(), X, LABELS, validation_data=[X, LABELS])


# -- targets y ------------------------------------------------------------------------
def test_mismatched_sample_counts(net):
    with pytest.raises(E, match=r"y must have one row per sample of X \(5\); got shape \(4,\)"):
        net.backprop(X, LABELS[:4], "cross_entropy")
    with pytest.raises(E, match=r"y must have one row per sample of X \(5\); got shape \(\)"):
        net.backprop(X, 1, "cross_entropy")


@pytest.mark.parametrize("labels, message", [
    ([0, 1, 2, 0, 1], "y labels must lie in 0..1 for 2 classes; got values from 0 to 2"),
    ([0, -1, 1, 0, 1], "y labels must lie in 0..1 for 2 classes; got values from -1 to 1"),
])
def test_labels_out_of_range(net, labels, message):
    with pytest.raises(E, match=message):
        net.backprop(X, np.array(labels), "cross_entropy")


@pytest.mark.parametrize("labels", [np.array([0.0, 1.0, 0.0, 1.0, 1.0]), np.ones(5, dtype=bool)])
def test_labels_must_be_integers(net, labels):
    with pytest.raises(TE, match=r"y given as labels \(shape \(n,\)\) must be integers 0\.\.1; "
                                 f"got dtype {labels.dtype}"):
        net.backprop(X, labels, "cross_entropy")


@pytest.mark.parametrize("row, message", [
    ([0.5, 0.6], "got row 2 with minimum 0.5 and sum 1.1"),
    ([1.5, -0.5], "got row 2 with minimum -0.5 and sum 1"),
])
def test_one_hot_rows_must_be_distributions(net, row, message):
    T = np.eye(2)[LABELS]
    T[2] = row
    with pytest.raises(E, match=r"y given as rows \(shape \(n, M\)\) must be probability "
                                r"distributions: non-negative, each row summing to 1; " + message):
        net.backprop(X, T, "cross_entropy")


def test_regression_target_shape(net):
    with pytest.raises(E, match=r"y must have shape \(n_samples, 2\) for squared_error with 2 "
                                r"output\(s\); got shape \(5, 3\)"):
        net.backprop(X, np.ones((5, 3)), "mse")


def test_targets_must_be_finite(net):
    T = np.ones((5, 2))
    T[0, 1] = np.nan
    with pytest.raises(E, match="y must contain only finite values; got NaN or Inf"):
        net.backprop(X, T, "mse")


def test_targets_must_be_numeric(net):
    with pytest.raises(TE, match="y must be numeric; got dtype"):
        net.backprop(X, np.array([["a", "b"]] * 5), "mse")


def test_sigmoid_targets_in_unit_interval():
    net = bp.Sequential([bp.Dense(3, 1, "sigmoid")])
    with pytest.raises(E, match=r"y for sigmoid_cross_entropy must lie in \[0, 1\]; got values "
                                r"from 0 to 2"):
        net.backprop(X, np.array([0.0, 1.0, 2.0, 0.0, 1.0]), "sigmoid_cross_entropy")


def test_softmax_needs_two_outputs():
    net = bp.Sequential([bp.Dense(3, 1)])
    with pytest.raises(E, match="softmax_cross_entropy needs at least 2 outputs .*has 1"):
        net.backprop(X, np.zeros(5, dtype=int), "cross_entropy")


def test_empty_batch(net):
    with pytest.raises(E, match="y needs at least one sample to evaluate a cost; got 0 rows"):
        net.backprop(np.ones((0, 3)), np.zeros(0, dtype=int), "cross_entropy")
    with pytest.raises(E, match="y needs at least one sample"):
        bp.fit(net, "cross_entropy", bp.SGD(), np.ones((0, 3)), np.zeros(0, dtype=int))


# -- losses, optimizers and numbers ------------------------------------------------------
def test_unknown_loss_lists_valid_names(net):
    with pytest.raises(E, match="loss must be a Loss or one of squared_error, mse, "
                                "softmax_cross_entropy, .*got 'hinge'"):
        net.backprop(X, LABELS, "hinge")
    with pytest.raises(TE, match="loss must be a Loss or one of .*got 5"):
        bp.fit(net, 5, bp.SGD(), X, LABELS)


def test_unknown_optimizer_lists_valid_names(net):
    with pytest.raises(E, match=r"optimizer must be an optimizer object or one of .*sgd.*; "
                                r"got 'no-such-optimizer'"):
        bp.fit(net, "cross_entropy", "no-such-optimizer", X, LABELS)
    with pytest.raises(TE, match=r"optimizer must have a step\(net, grads\) method .*got float"):
        bp.fit(net, "cross_entropy", 0.1, X, LABELS)


def test_optimizer_by_name(net):
    history = bp.fit(net, "cross_entropy", "sgd", X, LABELS, epochs=2)
    assert history.iterations == 2


@pytest.mark.parametrize("lr", [0, -0.1, float("nan"), float("inf")])
def test_learning_rate_must_be_positive(lr):
    with pytest.raises(E, match=f"lr must be a number > 0 or a schedule; got {lr!r}"):
        bp.SGD(lr=lr)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"lr": "0.1"}, TE, "lr must be a number > 0 or a schedule; got str '0.1'"),
    ({"lr": True}, TE, "lr must be a number > 0 or a schedule; got bool True"),
    ({"momentum": 1.0}, E, r"momentum must be a number in \[0, 1\); got 1.0"),
    ({"momentum": -0.5}, E, r"momentum must be a number in \[0, 1\); got -0.5"),
    ({"weight_decay": -1e-4}, E, "weight_decay must be a number >= 0 or a callable of the batch weight; got -0.0001"),
])
def test_optimizer_numbers(kwargs, error, message):
    with pytest.raises(error, match=message):
        bp.SGD(**kwargs)


def test_float64_scalars_do_not_promote_float32():
    net = bp.Sequential([bp.Dense(3, 2, "softmax")])
    bp.fit(net, "cross_entropy", bp.SGD(lr=np.float64(0.1), weight_decay=np.float64(1e-3)),
           np.ones((5, 3), dtype=np.float32), LABELS, epochs=2)
    assert all(layer.W.dtype == np.float32 and layer.b.dtype == np.float32 for layer in net.layers)


@pytest.mark.parametrize("arg, value, error", [
    ("epochs", 0, E), ("epochs", 2.0, TE), ("batch_size", 0, E), ("batch_size", -5, E),
    ("batch_size", 1.5, TE), ("eval_every", 0, E), ("epochs", True, TE),
])
def test_fit_counts_must_be_positive_ints(net, arg, value, error):
    with pytest.raises(error, match=f"{arg} must be a positive int; got {value!r}"):
        bp.fit(net, "cross_entropy", bp.SGD(), X, LABELS, **{arg: value})


@pytest.mark.parametrize("value, error", [(-0.1, E), ("big", TE), (float("nan"), E)])
def test_backprop_weight_decay(net, value, error):
    with pytest.raises(error, match="weight_decay must be a number >= 0; got"):
        net.backprop(X, LABELS, "cross_entropy", weight_decay=value)


def test_gradcheck_arguments(net):
    with pytest.raises(E, match=r"eps must be a number > 0 \(or None for the default\); got -1"):
        bp.gradcheck(net, "cross_entropy", X, LABELS, eps=-1)
    with pytest.raises(E, match="max_params must be a positive int or None; got 0"):
        bp.gradcheck(net, "cross_entropy", X, LABELS, max_params=0)
    with pytest.raises(E, match="weight_decay must be a number >= 0; got -1"):
        bp.gradcheck(net, "cross_entropy", X, LABELS, weight_decay=-1)
    with pytest.raises(E, match=r"X must have shape \(n_samples, 3\)"):
        bp.gradcheck(net, "cross_entropy", np.ones((5, 2)), LABELS)


def test_set_flat_length(net):
    with pytest.raises(E, match=f"theta must be a 1-D array of {net.n_params} parameters; "
                                r"got shape \(3,\)"):
        net.set_flat(np.ones(3))


# -- nothing is lost ---------------------------------------------------------------------
def test_failed_fit_leaves_model_unchanged(net):
    theta = net.get_flat()
    with pytest.raises(E):
        bp.fit(net, "cross_entropy", bp.SGD(lr=1.0), X, LABELS, epochs=3,
               validation_data=(np.ones((2, 3)), [0, 5]))
    np.testing.assert_array_equal(net.get_flat(), theta)
