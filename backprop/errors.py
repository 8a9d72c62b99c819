"""The library's own error type, which every check on user input raises, and the
checks shared by many entry points (numbers and ints, NumPy scalars included).

`BackpropError` is a `ValueError` so that ``except ValueError`` keeps working;
`BackpropTypeError` is also a `TypeError`, for arguments of the wrong kind.
Messages name the argument, what was expected and what was given.
"""

import math
import numbers


class BackpropError(ValueError):
    """Invalid input to a `backprop` function, with a message that names the argument."""


class BackpropTypeError(BackpropError, TypeError):
    """An argument of the wrong type (e.g. an integer array where floats are needed)."""


class DivergenceError(BackpropError):
    """Training stopped because the cost became NaN or Inf (see `backprop.divergence`).

    ``epoch`` and ``iteration`` (both counted from 1) say where; ``history`` holds the
    learning curves up to the end of that epoch, NaN/Inf included.
    """

    def __init__(self, message, *, epoch, iteration, history):
        super().__init__(message)
        self.epoch, self.iteration, self.history = epoch, iteration, history


def is_int(value) -> bool:
    """True for a Python or NumPy integer scalar (``5``, ``np.int64(5)``), False for bools."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_number(name, value, ok, expected):
    """Raise unless ``value`` is a finite real number (not bool) with ``ok(value)``.

    NumPy scalars count as numbers (``np.float32(0.1)``, ``np.int64(5)``).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise BackpropTypeError(f"{name} must be {expected}; got {type(value).__name__} {value!r}")
    if not math.isfinite(value) or not ok(value):
        raise BackpropError(f"{name} must be {expected}; got {value!r}")


def check_positive_int(name, value, allow_none=False):
    """Raise unless ``value`` is an int ≥ 1 (Python or NumPy, not bool), or None when
    ``allow_none``; return it as a Python int (or None)."""
    if value is None and allow_none:
        return None
    if not is_int(value):
        raise BackpropTypeError(f"{name} must be a positive int; got {value!r}")
    if value < 1:
        raise BackpropError(f"{name} must be a positive int; got {value}")
    return int(value)


def check_seed(seed):
    """Raise unless ``seed`` is an int ≥ 0 (Python or NumPy, not bool) or None; return it
    as a Python int (or None)."""
    if seed is not None and (not is_int(seed) or seed < 0):
        raise BackpropTypeError(f"seed must be an int >= 0 or None; got {seed!r}")
    return None if seed is None else int(seed)
