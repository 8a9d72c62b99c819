"""The library's own error type: every check on user input raises it.

`BackpropError` is a `ValueError` so that ``except ValueError`` keeps working;
`BackpropTypeError` is also a `TypeError`, for arguments of the wrong kind.
Messages name the argument, what was expected and what was given.
"""


class BackpropError(ValueError):
    """Invalid input to a `backprop` function, with a message that names the argument."""


class BackpropTypeError(BackpropError, TypeError):
    """An argument of the wrong type (e.g. an integer array where floats are needed)."""
