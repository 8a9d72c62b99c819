"""`backprop.sklearn` in use: labels of any kind, multi-label and multi-output targets,
scikit-learn's tooling (Pipeline, GridSearchCV with two processes, cross_val_score,
clone), pickling, devices and array-API inputs, and the errors."""

import pickle

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

import array_api_strict  # noqa: E402
from conftest import ARRAY_API_READY, _gpu_available  # noqa: E402
from sklearn import config_context  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_iris, make_multilabel_classification  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils._param_validation import InvalidParameterError  # noqa: E402

import backprop as bp  # noqa: E402
from backprop.device import to_host  # noqa: E402
from backprop.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

X_IRIS, Y_IRIS = load_iris(return_X_y=True)
X_IRIS = StandardScaler().fit_transform(X_IRIS)
needs_array_api = pytest.mark.skipif(
    not ARRAY_API_READY, reason="array-API dispatch needs SCIPY_ARRAY_API=1 before SciPy loads")


@pytest.mark.parametrize("labels", [np.array(["setosa", "versicolor", "virginica"]),
                                    np.array([3, 7, 11]), np.array([40, 10, 20], np.uint8)])
def test_labels_of_any_kind(labels):
    y = labels[Y_IRIS]
    est = MLPClassifier(max_iter=100, random_state=0).fit(X_IRIS, y)
    np.testing.assert_array_equal(est.classes_, np.sort(labels))
    predicted = est.predict(X_IRIS)
    assert predicted.dtype == y.dtype and np.mean(predicted == y) > 0.85
    assert est.predict_proba(X_IRIS).shape == (150, 3) and est.out_activation_ == "softmax"


@pytest.mark.parametrize("labels", [np.array([3, 7]), np.array([False, True]),
                                    np.array(["no", "yes"])])
def test_binary_labels_use_one_logistic_output(labels):
    y = labels[(Y_IRIS == 2).astype(int)]
    est = MLPClassifier(max_iter=100, random_state=0).fit(X_IRIS, y)
    assert est.n_outputs_ == 1 and est.out_activation_ == "logistic"
    P = est.predict_proba(X_IRIS)
    np.testing.assert_allclose(P.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(est.predict(X_IRIS), est.classes_[np.argmax(P, axis=1)])
    np.testing.assert_allclose(est.predict_log_proba(X_IRIS), np.log(P), rtol=1e-6)


def test_multi_label_indicator_targets():
    X, Y = make_multilabel_classification(n_samples=120, n_features=8, n_classes=4,
                                          random_state=0)
    est = MLPClassifier(max_iter=200, random_state=0).fit(X, Y)
    assert est.out_activation_ == "logistic" and est.n_outputs_ == 4
    P, predicted = est.predict_proba(X), est.predict(X)
    assert P.shape == predicted.shape == (120, 4)
    np.testing.assert_array_equal(predicted, (P > 0.5).astype(int))
    assert np.mean(predicted == Y) > 0.8


def test_multi_output_regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    Y = np.stack([X[:, 0] - X[:, 1], np.sin(X[:, 2])], axis=1)
    est = MLPRegressor(hidden_layer_sizes=(30,), max_iter=300, random_state=0).fit(X, Y)
    assert est.predict(X).shape == (200, 2) and est.score(X, Y) > 0.9
    one = MLPRegressor(max_iter=20, random_state=0).fit(X, Y[:, 0])
    assert one.predict(X).shape == (200,)


def test_partial_fit_classes():
    est = MLPClassifier(random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        est.partial_fit(X_IRIS[:10], Y_IRIS[:10])
    est.partial_fit(X_IRIS[:50], Y_IRIS[:50], classes=[0, 1, 2])   # only class 0 seen yet
    np.testing.assert_array_equal(est.classes_, [0, 1, 2])
    assert est.out_activation_ == "softmax" and est.predict_proba(X_IRIS[:2]).shape == (2, 3)
    with pytest.raises(ValueError, match="`y` has classes not in `self.classes_`"):
        est.partial_fit(X_IRIS[:5], np.full(5, 4))
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    assert not hasattr(MLPRegressor(solver="lbfgs"), "partial_fit")
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        MLPRegressor(early_stopping=True).partial_fit(X_IRIS, Y_IRIS.astype(float))


def test_pipeline_grid_search_with_two_processes_cross_val_score_and_clone():
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=150, random_state=0))
    grid = {"mlpclassifier__alpha": [1e-4, 1.0], "mlpclassifier__hidden_layer_sizes": [(5,), (20,)]}
    X, y = load_iris(return_X_y=True)
    parallel = GridSearchCV(pipe, grid, cv=3, n_jobs=2).fit(X, y)
    serial = GridSearchCV(pipe, grid, cv=3, n_jobs=1).fit(X, y)
    np.testing.assert_array_equal(parallel.cv_results_["mean_test_score"],
                                  serial.cv_results_["mean_test_score"])
    assert parallel.best_params_ == serial.best_params_ and parallel.best_score_ > 0.85
    assert isinstance(parallel.best_estimator_[-1], MLPClassifier)
    assert parallel.score(X, y) > 0.85
    assert cross_val_score(pipe, X, y, cv=3).mean() > 0.8
    copy = clone(parallel.best_estimator_)
    assert copy.get_params()["mlpclassifier__alpha"] == parallel.best_params_[
        "mlpclassifier__alpha"] and not hasattr(copy[-1], "net_")


@pytest.mark.parametrize("device", ["cpu", "array_api_strict"])
def test_fitted_estimator_pickles_and_keeps_training_the_same(device):
    kw = dict(solver="sgd", batch_size=30, random_state=0, device=device, dtype="float64")
    est = MLPClassifier(**kw).partial_fit(X_IRIS, Y_IRIS, classes=[0, 1, 2])
    copy = pickle.loads(pickle.dumps(est))
    assert copy.net_.backend == est.net_.backend
    np.testing.assert_array_equal(copy.predict_proba(X_IRIS), est.predict_proba(X_IRIS))
    for model in (est, copy):       # the momentum velocity came along: same next epoch
        model.partial_fit(X_IRIS, Y_IRIS)
    np.testing.assert_array_equal(copy.coefs_[0], est.coefs_[0])
    early = MLPClassifier(early_stopping=True, max_iter=5, device=device).fit(X_IRIS, Y_IRIS)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(early)).predict(X_IRIS),
                                  early.predict(X_IRIS))


def test_device_by_namespace_results_are_host_arrays():
    cpu = MLPClassifier(max_iter=20, random_state=0, dtype="float64").fit(X_IRIS, Y_IRIS)
    strict = MLPClassifier(max_iter=20, random_state=0, dtype="float64",
                           device=("array_api_strict", array_api_strict.Device("device1")))
    strict.fit(X_IRIS, Y_IRIS)
    assert strict.net_.device == array_api_strict.Device("device1")
    P = strict.predict_proba(X_IRIS)
    assert type(P) is np.ndarray and all(type(W) is np.ndarray for W in strict.coefs_)
    np.testing.assert_allclose(P, cpu.predict_proba(X_IRIS), rtol=1e-10)


@needs_array_api
@pytest.mark.parametrize("namespace", ["torch", "array_api_strict"])
def test_array_api_inputs_train_on_their_namespace(namespace):
    xp = pytest.importorskip(namespace)
    device = array_api_strict.Device("device1") if namespace == "array_api_strict" else "cpu"
    X, y = xp.asarray(X_IRIS, device=device), xp.asarray(Y_IRIS, device=device)
    kw = dict(solver="sgd", max_iter=10, random_state=0, shuffle=False, dtype="float64")
    reference = MLPClassifier(**kw).fit(X_IRIS, Y_IRIS)
    with config_context(array_api_dispatch=True):
        est = MLPClassifier(**kw).fit(X, y)
        P, labels = est.predict_proba(X), est.predict(X)
        assert est.net_.xp.__name__.endswith(namespace) and est.net_.device == X.device
        assert type(P) is type(X) and type(labels) is type(X) and P.device == X.device
        assert isinstance(est.score(X, y), float)
        with pytest.raises(ValueError, match=r"MLPClassifier.predict\(\) must use the same "
                                             r"namespace"):
            est.predict(X_IRIS)
    assert all(type(W) is np.ndarray for W in est.coefs_)
    np.testing.assert_allclose(to_host(P), reference.predict_proba(X_IRIS), rtol=1e-10)
    np.testing.assert_array_equal(to_host(labels), reference.predict(X_IRIS))


@needs_array_api
def test_array_api_mixed_inputs_and_regression_on_torch():
    torch = pytest.importorskip("torch")
    Y = np.stack([X_IRIS[:, 0], X_IRIS[:, 1] * X_IRIS[:, 2]], axis=1)
    with config_context(array_api_dispatch=True):
        est = MLPRegressor(max_iter=20, random_state=0).fit(
            torch.asarray(X_IRIS), Y, sample_weight=torch.ones(150))   # y, weights: NumPy/torch
        assert isinstance(est.predict(torch.asarray(X_IRIS)), torch.Tensor)
    # without dispatch, array inputs are converted to NumPy (scikit-learn's default)
    assert type(est.predict(torch.asarray(X_IRIS))) is np.ndarray


@pytest.mark.gpu
@pytest.mark.skipif(not _gpu_available(), reason="needs CuPy and a CUDA GPU")
def test_cuda_device_takes_numpy_and_returns_numpy():
    import cupy

    kw = dict(solver="sgd", batch_size=32, max_iter=20, random_state=0, shuffle=False,
              dtype="float64")
    cpu = MLPClassifier(**kw).fit(X_IRIS, Y_IRIS)
    gpu = MLPClassifier(device="cuda", **kw).fit(X_IRIS, Y_IRIS)
    assert gpu.net_.backend.name == "cupy"
    P = gpu.predict_proba(X_IRIS)
    assert type(P) is np.ndarray and type(gpu.coefs_[0]) is np.ndarray
    np.testing.assert_allclose(P, cpu.predict_proba(X_IRIS), rtol=1e-8, atol=1e-10)
    copy = pickle.loads(pickle.dumps(gpu))
    np.testing.assert_array_equal(copy.predict_proba(X_IRIS), P)
    if ARRAY_API_READY:
        with config_context(array_api_dispatch=True):
            on_gpu = MLPClassifier(**kw).fit(cupy.asarray(X_IRIS), cupy.asarray(Y_IRIS))
            assert isinstance(on_gpu.predict_proba(cupy.asarray(X_IRIS)), cupy.ndarray)


@pytest.mark.parametrize("params, error, message", [
    (dict(activation="rleu"), InvalidParameterError, "'activation' parameter"),
    (dict(solver="bfgs"), InvalidParameterError, "'solver' parameter"),
    (dict(momentum=1.0), InvalidParameterError, "'momentum' parameter"),
    (dict(dtype="float16"), InvalidParameterError, "'dtype' parameter"),
    (dict(device="tpu"), bp.BackpropError, "device must be 'cpu', 'cuda', 'cuda:N' or the name"),
    (dict(hidden_layer_sizes=(5, 0)), ValueError, "hidden_layer_sizes must be > 0"),
    (dict(early_stopping=True, validation_fraction=0.005), ValueError,
     "The validation set is too small"),
])
def test_errors(params, error, message):
    with pytest.raises(error, match=message):
        MLPClassifier(**params).fit(X_IRIS, Y_IRIS)


def test_input_errors():
    with pytest.raises(InvalidParameterError, match="'loss' parameter"):
        MLPRegressor(loss="poisson").fit(X_IRIS, Y_IRIS)
    with pytest.raises(NotFittedError):
        MLPClassifier().predict(X_IRIS)
    from scipy.sparse import csr_array

    with pytest.raises(TypeError, match="[Ss]parse"):
        MLPClassifier().fit(csr_array(X_IRIS), Y_IRIS)
    with pytest.raises(ValueError, match="Sample weights must contain at least one non-zero"):
        MLPClassifier().fit(X_IRIS, Y_IRIS, sample_weight=np.zeros(150))
    with pytest.raises(ValueError, match="Negative values in data passed to `sample_weight`"):
        MLPClassifier().fit(X_IRIS, Y_IRIS, sample_weight=-np.ones(150))
    est = MLPClassifier(max_iter=2).fit(X_IRIS, Y_IRIS)
    with pytest.raises(ValueError, match="X has 3 features, but MLPClassifier is expecting 4"):
        est.predict(X_IRIS[:, :3])


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_diverging_training_raises_one_clear_error():
    y = X_IRIS[:, 0] * 1e3
    with pytest.raises(bp.DivergenceError, match="training diverged"):
        MLPRegressor(solver="sgd", learning_rate_init=1.0, max_iter=50).fit(X_IRIS, y)
