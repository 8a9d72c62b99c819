"""backprop: feedforward neural networks trained by explicit backpropagation.

Every array operation goes through the array-API namespace of the model's arrays,
so the same code runs on NumPy (CPU), CuPy (GPU) and any array-API library.
The formulas follow the derivations in the project's seed documents; docstrings
cite their equations, e.g. Algorithm 6.1 and (6.24)–(6.27).
"""

from . import datasets, ops, optim
from .activations import Activation
from .callbacks import Checkpoint, EarlyStopping
from .errors import BackpropError, BackpropTypeError, DivergenceError
from .gradcheck import gradcheck
from .io import load, load_checkpoint, save, save_checkpoint
from .layers import Dense
from .linesearch import LineSearch
from .losses import Loss, SigmoidCrossEntropy, SoftmaxCrossEntropy, SquaredError
from .network import Sequential
from .optim import SGD, Adam, Cosine, PerSample, StepDecay
from .train import History, fit

__version__ = "0.1.0"

__all__ = [
    "Activation", "Adam", "BackpropError", "BackpropTypeError", "Checkpoint", "Cosine", "Dense",
    "DivergenceError", "EarlyStopping", "History", "LineSearch", "Loss", "PerSample", "SGD",
    "Sequential",
    "SigmoidCrossEntropy", "SoftmaxCrossEntropy", "SquaredError", "StepDecay", "datasets", "fit",
    "gradcheck", "load", "load_checkpoint", "ops", "optim", "save", "save_checkpoint",
]
