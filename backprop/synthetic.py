"""The seeds' small synthetic problems: XOR, Figure 5.3's curves, Figure 5.4's two classes.

Data generation happens on the host, like data loading: these functions return NumPy
float64 arrays (``X`` of shape (n, d), targets ``y`` of shape (n, 1) or (n,)) that
`fit` moves to the model's device. Every draw comes from ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import numpy as np

from .errors import BackpropError, BackpropTypeError, is_int

CURVES = {
    "x2": lambda x: x * x,
    "sin": np.sin,
    "abs": np.abs,
    "heaviside": lambda x: (x > 0).astype(np.float64),
}

# Figure 5.4: each class is an equal-weight mixture of two isotropic Gaussians
# (mean, standard deviation); the classes have equal priors.
TWO_CLASS_MIXTURES = (
    (((-1.0, 0.7), 0.5), ((0.3, -0.8), 0.6)),   # class 0
    (((1.2, 0.9), 0.6), ((-0.4, 2.0), 0.5)),    # class 1
)


def _check_n(n, minimum=1):
    if not is_int(n):
        raise BackpropTypeError(f"n must be an int; got {type(n).__name__}")
    if n < minimum:
        raise BackpropError(f"n must be at least {minimum}; got {n}")


def xor():
    """The four XOR points of seed 001: X = {0, 1}², y = x₁ XOR x₂, shapes (4, 2) and (4, 1)."""
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    return X, y


def curve(name, n=50, seed=0):
    """Figure 5.3's data: ``n`` points x uniform on (−1, 1) with y = f(x), sorted by x.

    ``name`` is ``"x2"`` (x²), ``"sin"`` (sin x), ``"abs"`` (|x|) or ``"heaviside"``
    (H(x) = 1 for x > 0, else 0). Returns ``X`` and ``y``, both of shape (n, 1).
    """
    if name not in CURVES:
        raise BackpropError(f"name must be one of {', '.join(CURVES)}; got {name!r}")
    _check_n(n)
    x = np.sort(np.random.default_rng(seed).uniform(-1.0, 1.0, size=n))
    return x[:, None], CURVES[name](x)[:, None]


def two_class(n=200, seed=0):
    """Figure 5.4's data: ``n`` points, half from each class's Gaussian mixture.

    Returns ``X`` of shape (n, 2) and labels ``y`` in {0, 1} of shape (n, 1), in random
    order. The generating densities are `TWO_CLASS_MIXTURES`; `two_class_posterior`
    gives the Bayes-optimal p(class 1 | x) they imply.
    """
    _check_n(n, minimum=2)
    rng = np.random.default_rng(seed)
    X, y = [], []
    for label, mixture in enumerate(TWO_CLASS_MIXTURES):
        m = n // 2 if label == 0 else n - n // 2
        component = rng.integers(len(mixture), size=m)
        means = np.array([mixture[k][0] for k in component])
        stds = np.array([mixture[k][1] for k in component])
        X.append(means + stds[:, None] * rng.standard_normal((m, 2)))
        y.append(np.full(m, float(label)))
    order = rng.permutation(n)
    return np.concatenate(X)[order], np.concatenate(y)[order][:, None]


def _mixture_density(X, mixture):
    """p(x | class) = ½ Σₖ N(x; μₖ, sₖ² I) for the rows of X."""
    density = np.zeros(X.shape[0])
    for mean, std in mixture:
        r2 = np.sum((X - np.asarray(mean)) ** 2, axis=1)
        density += np.exp(-r2 / (2 * std * std)) / (2 * np.pi * std * std)
    return density / len(mixture)


def two_class_posterior(X):
    """Bayes-optimal p(class 1 | x) = p₁(x) / (p₀(x) + p₁(x)) (equal priors) for rows of X.

    The optimal decision boundary of Figure 5.4 (green) is its 0.5 level set. Far from
    all components, where both densities underflow to 0, it returns ½.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2:
        raise BackpropError(f"X must have shape (n, 2); got {X.shape}")
    p0, p1 = (_mixture_density(X, mixture) for mixture in TWO_CLASS_MIXTURES)
    total = p0 + p1
    return np.divide(p1, total, out=np.full_like(total, 0.5), where=total > 0)
