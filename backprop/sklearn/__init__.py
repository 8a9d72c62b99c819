"""scikit-learn estimators on `backprop`: `MLPClassifier` and `MLPRegressor`.

Drop-in replacements for ``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor``
(same parameters, defaults, fitted attributes and methods) that train with `backprop`
on the CPU, a GPU (``device="cuda"``) or any array-API namespace. Needs the ``sklearn``
extra: ``pip install 'backprop[sklearn]'`` (scikit-learn ≥ 1.6 and SciPy).

* `base`: parameters, validation, fitting through `backprop.fit` or L-BFGS, devices;
* `epochs`: scikit-learn's per-epoch rules (tol, early stopping, rates) as a callback;
* `lbfgs`: SciPy's L-BFGS-B on θ (6.17);
* `estimators`: the two estimators (labels, losses, predictions).
"""

try:
    import scipy  # noqa: F401
    import sklearn  # noqa: F401
except ImportError as exc:        # pragma: no cover - depends on the environment
    raise ImportError("backprop.sklearn needs scikit-learn and SciPy: "
                      "pip install 'backprop[sklearn]'") from exc

from .estimators import HalfSquaredError, MLPClassifier, MLPRegressor

__all__ = ["HalfSquaredError", "MLPClassifier", "MLPRegressor"]
