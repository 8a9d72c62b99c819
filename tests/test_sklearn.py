"""`backprop.sklearn` against scikit-learn's own MLPs, and the effect of every parameter.

scikit-learn's MLP and ours draw the same initial weights from the same ``random_state``,
so in float64 with ``shuffle=False`` (scikit-learn's shuffles come from another
generator) the two must follow the same trajectory: same weights after every solver,
schedule, momentum form, batch split, alpha, sample weights and stopping rule, same
``loss_curve_``, ``n_iter_``, ``t_``, ``best_loss_`` and validation scores. Then each
parameter is checked for its documented effect on its own.
"""

import math
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from sklearn import neural_network as reference  # noqa: E402
from sklearn.datasets import (  # noqa: E402
    make_classification, make_multilabel_classification, make_regression)
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from backprop.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

X_C, Y_C = make_classification(n_samples=103, n_features=6, n_informative=4, n_classes=3,
                               random_state=0)
X_B, Y_B = make_classification(n_samples=103, n_features=6, random_state=1)
X_M, Y_M = make_multilabel_classification(n_samples=103, n_features=6, n_classes=3,
                                          random_state=0)
X_R, Y_R = make_regression(n_samples=103, n_features=6, n_targets=2, noise=1.0, random_state=0)
Y_R = Y_R / 100
WEIGHTS = np.random.default_rng(0).integers(0, 4, 103).astype(float)

# 103 = 6·17 + 1: batch_size=17 leaves a last batch of one sample, with its own λ = alpha/1
CASES = {
    "sgd nesterov, batches with a remainder, alpha": (
        "C", X_C, Y_C, {}, dict(solver="sgd", batch_size=17, alpha=0.3, learning_rate_init=0.05,
                                hidden_layer_sizes=(7, 5))),
    "sgd heavy-ball momentum": (
        "C", X_C, Y_C, {}, dict(solver="sgd", batch_size=17, nesterovs_momentum=False,
                                momentum=0.5)),
    "sgd without momentum": ("C", X_C, Y_C, {}, dict(solver="sgd", batch_size=17, momentum=0.0)),
    "sgd invscaling with momentum": (
        "C", X_C, Y_C, {}, dict(solver="sgd", batch_size=17, learning_rate="invscaling",
                                learning_rate_init=0.5, power_t=0.3)),
    "sgd adaptive": (
        "C", X_C, Y_C, {}, dict(solver="sgd", batch_size=17, learning_rate="adaptive",
                                learning_rate_init=0.05, n_iter_no_change=2, tol=0.02,
                                max_iter=40)),
    "sgd stops on tol": (
        "C", X_C, Y_C, {}, dict(solver="sgd", batch_size=17, learning_rate_init=0.05, tol=0.02,
                                n_iter_no_change=2, max_iter=200)),
    "adam beta_1, beta_2, epsilon": (
        "C", X_C, Y_C, {}, dict(batch_size=17, beta_1=0.5, beta_2=0.9, epsilon=0.1)),
    "adam binary, logistic units, alpha": (
        "C", X_B, Y_B, {}, dict(batch_size=17, activation="logistic", alpha=0.3)),
    "adam multi-label, tanh": ("C", X_M, Y_M, {}, dict(batch_size=20, activation="tanh")),
    "adam two outputs, identity units": (
        "R", X_R, Y_R, {}, dict(batch_size=20, activation="identity", alpha=0.1)),
    "sgd sample weights": (
        "C", X_C, Y_C, dict(sample_weight=WEIGHTS), dict(solver="sgd", batch_size=17, alpha=0.1)),
    "adam early stopping": (
        "C", X_C, Y_C, {}, dict(batch_size=17, early_stopping=True, n_iter_no_change=3,
                                learning_rate_init=0.1, max_iter=40)),
    "sgd early stopping, weighted, two outputs": (
        "R", X_R, Y_R, dict(sample_weight=WEIGHTS),
        dict(solver="sgd", batch_size=17, early_stopping=True, n_iter_no_change=3,
             validation_fraction=0.2, max_iter=40)),
    "lbfgs multi-class, alpha": ("C", X_C, Y_C, {}, dict(solver="lbfgs", max_iter=30, alpha=0.1)),
    "lbfgs sample weights": (
        "C", X_C, Y_C, dict(sample_weight=WEIGHTS), dict(solver="lbfgs", max_iter=30, alpha=0.1)),
    "lbfgs one output": ("R", X_R, Y_R[:, 0], {}, dict(solver="lbfgs", max_iter=30, alpha=0.1)),
    "lbfgs max_fun": ("C", X_C, Y_C, {}, dict(solver="lbfgs", max_iter=300, max_fun=20)),
}


def fit_both(kind, X, y, fit_kw, params):
    """Ours (float64) and scikit-learn's, fitted alike from the same random_state."""
    params = {"max_iter": 15, "random_state": 0, "shuffle": False, **params}
    ours = {"C": MLPClassifier, "R": MLPRegressor}[kind](dtype="float64", **params)
    theirs = {"C": reference.MLPClassifier, "R": reference.MLPRegressor}[kind](**params)
    return ours.fit(X, y, **fit_kw), theirs.fit(X, y, **fit_kw)


@pytest.mark.parametrize("case", list(CASES))
def test_same_training_as_scikit_learn(case):
    kind, X, y, fit_kw, params = CASES[case]
    ours, theirs = fit_both(kind, X, y, fit_kw, params)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert ours.n_iter_ == theirs.n_iter_ and ours.t_ == theirs.t_
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-10)
    if hasattr(theirs, "loss_curve_"):
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-10)
        if theirs.validation_scores_ is None:
            assert ours.best_loss_ == pytest.approx(theirs.best_loss_, rel=1e-10)
        else:
            np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_,
                                       rtol=1e-10)
            assert ours.best_validation_score_ == pytest.approx(theirs.best_validation_score_)
            assert ours.best_loss_ is None
    predict = "predict_proba" if kind == "C" else "predict"
    np.testing.assert_allclose(getattr(ours, predict)(X), getattr(theirs, predict)(X),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(ours.predict(X) if kind == "C" else 0,
                                  theirs.predict(X) if kind == "C" else 0)


def test_warm_start_and_partial_fit_continue_as_scikit_learn():
    kw = dict(solver="sgd", batch_size=17, max_iter=4, random_state=0, shuffle=False)
    ours = MLPClassifier(dtype="float64", warm_start=True, **kw).fit(X_C, Y_C)
    theirs = reference.MLPClassifier(warm_start=True, **kw).fit(X_C, Y_C)
    ours.fit(X_C, Y_C), theirs.fit(X_C, Y_C)          # continues from the weights reached
    assert len(ours.loss_curve_) == 8 and ours.t_ == 8 * 103 and ours.n_iter_ == 4
    np.testing.assert_allclose(ours.coefs_[0], theirs.coefs_[0], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-10)
    # without warm_start, a second fit starts again: the same model as the first fit
    cold = MLPClassifier(dtype="float64", **kw).fit(X_C, Y_C)
    again = MLPClassifier(dtype="float64", **kw).fit(X_C, Y_C).fit(X_C, Y_C)
    np.testing.assert_array_equal(cold.coefs_[0], again.coefs_[0])

    ours = MLPClassifier(dtype="float64", **kw)
    theirs = reference.MLPClassifier(**kw)
    for chunk in np.array_split(np.arange(103), 3):   # the optimizer's state carries on
        ours.partial_fit(X_C[chunk], Y_C[chunk], classes=[0, 1, 2])
        theirs.partial_fit(X_C[chunk], Y_C[chunk], classes=[0, 1, 2])
        assert ours.n_iter_ == 1
    np.testing.assert_allclose(ours.coefs_[1], theirs.coefs_[1], rtol=1e-10, atol=1e-13)
    assert ours.t_ == 103


def test_early_stopping_stops_and_restores_the_best_weights():
    kw = dict(solver="sgd", batch_size=17, early_stopping=True, n_iter_no_change=4,
              learning_rate_init=0.2, max_iter=200, random_state=0, shuffle=False,
              dtype="float64")
    est = MLPClassifier(**kw).fit(X_C, Y_C)
    scores = est.validation_scores_
    best = int(np.argmax(scores))                    # the first epoch with the best score
    assert len(scores) == est.n_iter_ < 200 and best + 1 < est.n_iter_
    assert est.best_validation_score_ == scores[best] and est.best_loss_ is None
    # the kept weights are those after epoch best + 1: a run that ends there has them
    short = MLPClassifier(**{**kw, "max_iter": best + 1}).fit(X_C, Y_C)
    np.testing.assert_array_equal(est.coefs_[0], short.coefs_[0])
    longer = MLPClassifier(**{**kw, "max_iter": est.n_iter_, "n_iter_no_change": 1000})
    assert not np.array_equal(longer.fit(X_C, Y_C).loss_curve_, short.loss_curve_)


def _never_improving(**params):
    """tol = 100: no epoch lowers the loss by that much, so each one counts as no
    improvement (the first only sets best_loss_)."""
    return {"solver": "sgd", "tol": 100.0, "n_iter_no_change": 2, "random_state": 0,
            "batch_size": 50, **params}


def test_tol_and_n_iter_no_change_stop_training():
    est = MLPClassifier(**_never_improving(max_iter=50)).fit(X_C, Y_C)
    # epochs 2, 3, 4 count 1, 2, 3 > n_iter_no_change = 2: stop after epoch 4
    assert est.n_iter_ == 4 and est.best_loss_ == min(est.loss_curve_)
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(6\) reached"):
        est = MLPClassifier(**_never_improving(max_iter=6, n_iter_no_change=np.inf))
        assert est.fit(X_C, Y_C).n_iter_ == 6


def test_adaptive_divides_the_rate_by_five_until_it_is_too_small():
    est = MLPClassifier(**_never_improving(max_iter=10, learning_rate="adaptive",
                                           learning_rate_init=0.1)).fit(X_C, Y_C)
    # the count passes 2 after epochs 4, 7 and 10 and restarts each time: γ = 0.1 / 5³
    assert est.n_iter_ == 10
    assert est._optimizer.lr.value == pytest.approx(0.1 / 5 ** 3)
    # below 1e-6 it stops instead: 1e-5 → 2e-6 (epoch 4) → 4e-7 (epoch 7) → stop (epoch 10)
    est = MLPClassifier(**_never_improving(max_iter=50, learning_rate="adaptive",
                                           learning_rate_init=1e-5)).fit(X_C, Y_C)
    assert est.n_iter_ == 10 and est._optimizer.lr.value == pytest.approx(4e-7)


def test_invscaling_rate_after_each_epoch():
    est = MLPClassifier(solver="sgd", learning_rate="invscaling", learning_rate_init=0.5,
                        power_t=0.3, max_iter=3, random_state=0).fit(X_C, Y_C)
    assert est.t_ == 3 * 103
    assert est._optimizer.lr.value == pytest.approx(0.5 / (3 * 103 + 1) ** 0.3)


def test_batch_size_shuffle_and_random_state():
    def fit(**params):
        return MLPClassifier(solver="sgd", max_iter=3, random_state=0, **params).fit(X_C, Y_C)

    assert fit(batch_size=17)._optimizer.t == 3 * math.ceil(103 / 17)
    assert fit()._optimizer.t == 3                          # "auto": min(200, n) = 103
    with pytest.warns(UserWarning, match="batch_size.*clipped"):
        assert fit(batch_size=500)._optimizer.t == 3
    same = [fit(batch_size=17).coefs_[0] for _ in range(2)]
    np.testing.assert_array_equal(*same)                    # random_state fixes everything
    other_seed = MLPClassifier(solver="sgd", max_iter=3, batch_size=17, random_state=1)
    assert not np.allclose(same[0], other_seed.fit(X_C, Y_C).coefs_[0])
    assert not np.allclose(same[0], fit(batch_size=17, shuffle=False).coefs_[0])
    # a full batch is the same in any order
    np.testing.assert_allclose(fit(shuffle=False).coefs_[0], fit().coefs_[0], rtol=1e-5)


def test_alpha_shrinks_the_weights():
    norms = [np.linalg.norm(MLPClassifier(alpha=alpha, max_iter=30, random_state=0)
                            .fit(X_C, Y_C).coefs_[0]) for alpha in (1e-4, 1.0, 10.0)]
    assert norms[0] > norms[1] > norms[2]


def test_lbfgs_max_iter_and_max_fun():
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        est = MLPClassifier(solver="lbfgs", max_fun=15, random_state=0).fit(X_C, Y_C)
    longer = MLPClassifier(solver="lbfgs", max_fun=40, random_state=0).fit(X_C, Y_C)
    assert est.n_iter_ <= 15 < longer.n_iter_ < 200 and not hasattr(est, "loss_curve_")
    assert MLPClassifier(solver="lbfgs", max_iter=7, random_state=0).fit(X_C, Y_C).n_iter_ == 7


def test_regressor_loss_is_scikit_learns_squared_loss():
    """loss_ = ½·mean over samples of the mean over outputs + ½·alpha‖W‖²/n, for lbfgs too
    (which itself minimises the cost that sums over outputs, as its gradient does)."""
    est = MLPRegressor(solver="lbfgs", alpha=0.3, max_iter=20, random_state=0,
                       dtype="float64").fit(X_R, Y_R)
    residual = est.predict(X_R) - Y_R
    penalty = 0.5 * 0.3 * sum(np.sum(W ** 2) for W in est.coefs_) / 103
    assert est.loss_ == pytest.approx(0.5 * np.mean(residual ** 2) + penalty, rel=1e-10)


def test_verbose_prints_progress(capsys):
    MLPClassifier(max_iter=2, verbose=True, random_state=0).fit(X_C, Y_C)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Iteration 1, loss = ") and out[1].startswith("Iteration 2, ")


@pytest.mark.parametrize("activation, name", [("identity", "identity"), ("logistic", "sigmoid"),
                                              ("tanh", "tanh"), ("relu", "relu"),
                                              ("arctan", "arctan")])
def test_hidden_layers_and_activations(activation, name):
    est = MLPClassifier(hidden_layer_sizes=(4, 3), activation=activation, max_iter=2,
                        random_state=0).fit(X_C, Y_C)
    assert [layer.activation.name for layer in est.net_.layers] == [name, name, "softmax"]
    assert [W.shape for W in est.coefs_] == [(6, 4), (4, 3), (3, 3)]
    assert est.n_layers_ == 4 and est.out_activation_ == "softmax"


@pytest.mark.parametrize("dtype, X_dtype, expected", [
    ("float32", np.float64, np.float32), ("float64", np.float32, np.float64),
    (None, np.float32, np.float32), (None, np.float64, np.float64)])
def test_dtype(dtype, X_dtype, expected):
    est = MLPClassifier(dtype=dtype, max_iter=2, random_state=0).fit(X_C.astype(X_dtype), Y_C)
    assert est.coefs_[0].dtype == expected and est.predict_proba(X_C).dtype == expected


def test_fitted_attributes_and_the_network():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPClassifier(hidden_layer_sizes=5, max_iter=3, random_state=0).fit(X_C, Y_C)
    assert est.n_features_in_ == 6 and est.n_outputs_ == 3 and est.n_layers_ == 3
    assert all(type(a) is np.ndarray for a in est.coefs_ + est.intercepts_)
    assert len(est.loss_curve_) == 3 and est.loss_ == est.loss_curve_[-1]
    # predict_proba is the network's forward pass; coefs_ assignment goes into net_
    W1, W2 = est.coefs_
    b1, b2 = est.intercepts_
    Z = np.maximum(X_C @ W1 + b1, 0) @ W2 + b2
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(est.predict_proba(X_C), P / P.sum(axis=1, keepdims=True),
                               rtol=1e-5, atol=1e-6)
    est.coefs_ = [np.zeros_like(W1), W2]
    np.testing.assert_allclose(est.net_.layers[0].W, 0)
    est.intercepts_ = [np.zeros_like(b1), np.zeros_like(b2)]
    np.testing.assert_allclose(est.predict_proba(X_C[:2]), np.full((2, 3), 1 / 3), rtol=1e-6)
    with pytest.raises(ValueError, match=r"needs coefs_ of shape \(6, 5\)"):
        est.coefs_ = [W2, W2]


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_one_epoch_from_weights_set_in_both_libraries(solver):
    """Arbitrary weights assigned through coefs_/intercepts_ to both, then one epoch
    (warm start) with alpha and a short last batch: the same step as scikit-learn's."""
    kw = dict(solver=solver, hidden_layer_sizes=(5,), alpha=0.5, batch_size=40, max_iter=1,
              warm_start=True, shuffle=False, random_state=0, learning_rate_init=0.1)
    ours = MLPClassifier(dtype="float64", **kw).fit(X_C, Y_C)
    theirs = reference.MLPClassifier(**kw).fit(X_C, Y_C)
    rng = np.random.default_rng(1)
    coefs = [rng.normal(0, 0.3, size=W.shape) for W in theirs.coefs_]
    intercepts = [rng.normal(0, 0.3, size=b.shape) for b in theirs.intercepts_]
    for est in (ours, theirs):
        est.coefs_, est.intercepts_ = [W.copy() for W in coefs], [b.copy() for b in intercepts]
        est.fit(X_C, Y_C)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-12)
