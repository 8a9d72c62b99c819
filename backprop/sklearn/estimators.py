"""`MLPClassifier` and `MLPRegressor`: scikit-learn's MLP estimators on `backprop`.

Same parameters, defaults, attributes and methods as ``sklearn.neural_network``'s
(see `MLPBase` for what is shared and the README for the differences), plus ``device``
("cpu", "cuda", "cuda:N", an array-API namespace) and ``dtype`` ("float32", the
default; "float64"; None: the input's, as scikit-learn computes).
"""

from __future__ import annotations

import array_api_compat
import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.validation import column_or_1d, validate_data

from ..device import to_host
from ..losses import SigmoidCrossEntropy, SoftmaxCrossEntropy, SquaredError
from .base import MLPBase, float_dtypes, host, to_output


class MLPClassifier(ClassifierMixin, MLPBase):
    """Multi-layer perceptron classifier: scikit-learn's ``MLPClassifier`` on `backprop`.

    Class labels of any kind (strings, integers, booleans). Two classes or several
    independent labels (an indicator matrix y: multi-label) get logistic outputs and the
    sigmoid cross-entropy, more classes a softmax output and the softmax cross-entropy
    (6.20); ``out_activation_`` says which. ``predict_proba`` gives the outputs, per class.
    """

    def _validate_input(self, X, y, incremental, reset, space):
        """X validated, y as the label binarizer's indicator matrix (as scikit-learn)."""
        X, y = validate_data(self, X, y, multi_output=True, dtype=float_dtypes(space),
                             reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        f"warm_start can only be used where `y` has the same classes as in "
                        f"the previous call to fit. Previously got {self.classes_}, `y` has "
                        f"{classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                                 f"{self.classes_}. 'y' has {classes}.")
        return X, self._label_binarizer.transform(y).astype(bool)

    def _out_activation(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _loss(self, lbfgs=False):
        return SoftmaxCrossEntropy() if self.out_activation_ == "softmax" else \
            SigmoidCrossEntropy()

    def _validation_targets(self, Y):
        return self._label_binarizer.inverse_transform(Y)

    def _validation_score(self, P, y, sample_weight):
        """Accuracy of the outputs P (host) on the held-out labels y (NaN if P is not finite)."""
        if not np.isfinite(P).all():
            return np.nan
        return float(accuracy_score(y, self._labels(P), sample_weight=sample_weight))

    def _labels(self, P):
        """Class labels from host outputs P: the argmax, or > ½ for logistic outputs."""
        return self._label_binarizer.inverse_transform(P.ravel() if self.n_outputs_ == 1 else P)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and labels y (optionally weighted per sample)."""
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y); ``classes`` (all labels) is required on the first call."""
        y = host(y)
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """The predicted class labels (in X's namespace under array-API dispatch)."""
        P, space = self._outputs(X, "predict")
        labels = self._labels(to_host(P))
        if space is None or labels.dtype.kind not in "biuf":
            return labels
        return space[0].asarray(labels, device=space[1])

    def predict_proba(self, X):
        """Class probabilities, one column per class of ``classes_``."""
        return self._probabilities(X, "predict_proba")

    def predict_log_proba(self, X):
        """log of `predict_proba` (−inf where a probability is 0)."""
        P = self._probabilities(X, "predict_log_proba")
        with np.errstate(divide="ignore"):
            return array_api_compat.array_namespace(P).log(P)

    def _probabilities(self, X, method):
        P, space = self._outputs(X, method)
        if self.n_outputs_ == 1:
            P = self.net_.xp.concat([1 - P, P], axis=1)
        return to_output(P, space)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class HalfSquaredError(SquaredError):
    """scikit-learn's squared loss: the gradient of ½Σₖ(ŷₖ − yₖ)² averaged over samples,
    dZ = (ŷ − y)/n_b (as `SquaredError(half=True)`), but the cost reported as ½·mean over
    samples of the *mean* over the K outputs, i.e. J/K (scikit-learn's issue 8349).
    With one output both agree; with K > 1 the reported cost is 1/K of the one whose
    gradient is followed, so this loss serves training and ``loss_curve_`` only."""

    def __init__(self):
        super().__init__(half=True)

    def evaluate(self, ops, Z, T, *, weights=None, scale=1.0, out=None):
        J, dZ, error = super().evaluate(ops, Z, T, weights=weights, scale=scale, out=out)
        return J / Z.shape[1], dZ, error

    def __repr__(self):
        return "HalfSquaredError()"


class MLPRegressor(RegressorMixin, MLPBase):
    """Multi-layer perceptron regressor: scikit-learn's ``MLPRegressor`` on `backprop`.

    Identity output, one per target (multi-output y of shape (n, K)), trained on
    scikit-learn's half squared error (`HalfSquaredError`). ``loss`` accepts only
    ``"squared_error"`` (scikit-learn also has ``"poisson"``).
    """

    _parameter_constraints: dict = {**MLPBase._parameter_constraints,
                                    "loss": [StrOptions({"squared_error"})]}

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 device="cpu", dtype="float32"):
        self.loss = loss
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            max_fun=max_fun, device=device, dtype=dtype)

    def _validate_input(self, X, y, incremental, reset, space):
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True,
                             dtype=float_dtypes(space), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def _out_activation(self):
        return "identity"

    def _loss(self, lbfgs=False):
        """L-BFGS needs a cost consistent with its gradient: ½Σₖ, not scikit-learn's J/K."""
        return SquaredError(half=True) if lbfgs else HalfSquaredError()

    def _reported_loss(self, J, total):
        """scikit-learn's ``loss_`` from J = ½Σₖ-cost + penalty: the data part divided by K."""
        K = self.n_outputs_
        if K == 1:
            return J
        penalty = 0.5 * self.alpha / total * sum(float(np.vdot(W, W)) for W in self.coefs_)
        return (J - penalty) / K + penalty

    def _validation_targets(self, Y):
        return Y.ravel() if Y.shape[1] == 1 else Y

    def _validation_score(self, P, y, sample_weight):
        """R² of the outputs P (host) on the held-out targets y (NaN if P is not finite)."""
        if not np.isfinite(P).all():
            return np.nan
        return float(r2_score(y, P.ravel() if P.shape[1] == 1 else P,
                              sample_weight=sample_weight))

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and targets y (optionally weighted per sample)."""
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing from the current weights and optimizer state."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """The predicted targets: shape (n,) for one output, (n, K) for K."""
        P, space = self._outputs(X, "predict")
        if P.shape[1] == 1:
            P = self.net_.xp.reshape(P, (-1,))
        return to_output(P, space)
