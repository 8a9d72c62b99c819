"""The library's own error type: every check on user input raises it.

`BackpropError` is a `ValueError` so that ``except ValueError`` keeps working;
`BackpropTypeError` is also a `TypeError`, for arguments of the wrong kind.
Messages name the argument, what was expected and what was given.
"""


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
