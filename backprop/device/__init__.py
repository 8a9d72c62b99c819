"""The device boundary: which array namespace and device the model's arrays live on.

This module (with the backends' own operations, `backprop.ops`, and data loading) is
the one place that knows about NumPy and CuPy by name. Everything else receives a
`Backend` and computes through its operations or its namespace ``backend.xp``.

* ``"cpu"`` → NumPy (through ``array_api_compat.numpy``);
* ``"cuda"`` / ``"cuda:N"`` → CuPy on GPU ``N`` (an error, never a silent CPU
  fallback, when CuPy or the GPU is missing);
* an array-API namespace module (``array_api_strict``, ``torch``, …) → that
  namespace on its default device;
* a pair ``(namespace, device)`` → that namespace on that device.

Random numbers are not part of the array-API standard, so `Random` draws them on
the host with NumPy from the seed and moves them: the same seed gives the same
initial weights and the same shuffles on every backend.

A `Backend` pickles as its device spec (``"cpu"``, ``"cuda:N"``, or the namespace's
module name with the device), so networks pickle without module objects; unpickling
resolves the spec again (an error if, e.g., CuPy or the GPU is missing there).
"""

from __future__ import annotations

import contextlib
import importlib
import re
import types
from dataclasses import dataclass

import array_api_compat
import array_api_compat.numpy
import numpy as np

from ..errors import BackpropError, BackpropTypeError

DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class Backend:
    """An array namespace ``xp`` and the ``device`` the model's arrays are created on."""

    xp: types.ModuleType
    device: object

    @property
    def name(self) -> str:
        """Short name of the namespace, e.g. ``numpy``, ``cupy``, ``array_api_strict``."""
        return self.xp.__name__.removeprefix("array_api_compat.")

    def dtype(self, dtype):
        """The namespace's floating dtype for ``"float32"``/``"float64"`` (or a dtype object)."""
        name = dtype if isinstance(dtype, str) else getattr(dtype, "name", str(dtype))
        name = name.removeprefix("array_api_strict.").removeprefix("torch.")
        if name not in DTYPES:
            raise BackpropError(f"dtype must be one of {', '.join(DTYPES)}; got {dtype!r}")
        return getattr(self.xp, name)

    def __reduce__(self):
        """Pickle as the device spec: ``"cpu"``, ``"cuda:N"`` or (module name, device)."""
        if array_api_compat.is_cupy_namespace(self.xp):
            return resolve, (f"cuda:{self.device.id}",)
        if array_api_compat.is_numpy_namespace(self.xp) and self.device == "cpu":
            return resolve, ("cpu",)
        return _by_module_name, (self.xp.__name__, self.device)

    def context(self):
        """The context every computation of the library runs in: this device made current
        (CuPy creates arrays on the current GPU), and NumPy's floating-point warnings off
        (overflow, invalid, …; also those of namespaces built on NumPy such as
        ``array_api_strict``). Non-finite results are found and reported by the library
        itself: the input checks and the divergence guard."""
        stack = contextlib.ExitStack()
        stack.enter_context(np.errstate(all="ignore"))
        if array_api_compat.is_cupy_namespace(self.xp):
            stack.enter_context(self.device)
        return stack

    def asarray(self, x, *, name: str, dtype=None):
        """Return ``x`` as an array of this backend, moving host data (NumPy, lists) once.

        An array that already belongs to another array library or another device is
        refused with an error that says where it is and how to move it.
        """
        if _is_foreign(x):
            xp = array_api_compat.array_namespace(x)
            if xp is not self.xp:
                raise BackpropTypeError(
                    f"{name} is a {type(x).__module__}.{type(x).__name__} but the model uses "
                    f"{self.name} on {self.device}: convert it to NumPy (e.g. cupy.asnumpy, "
                    f".cpu().numpy()) or build the model on that array's device")
            if array_api_compat.device(x) != self.device:
                raise BackpropError(
                    f"{name} is on device {array_api_compat.device(x)} but the model is on "
                    f"{self.device}: move it with x.to_device(net.device)")
            return x if dtype is None or x.dtype == dtype else self.xp.astype(x, dtype)
        try:
            host = np.asarray(x)
        except (ValueError, TypeError) as exc:
            raise BackpropTypeError(
                f"{name} must be an array (or nested lists) of numbers with a regular shape; "
                f"got {type(x).__name__} ({exc})") from exc
        return self.xp.asarray(host, dtype=dtype, device=self.device)


def _is_foreign(x) -> bool:
    """True for an array of a library other than NumPy (NumPy arrays are host data)."""
    return array_api_compat.is_array_api_obj(x) and not isinstance(x, (np.ndarray, np.generic))


def resolve(device="cpu") -> Backend:
    """Turn the ``device`` argument of `Sequential` into a `Backend` (see module docstring)."""
    if device is None or device == "cpu":
        return Backend(array_api_compat.numpy, "cpu")
    if isinstance(device, str):
        match = re.fullmatch(r"cuda(?::(\d+))?", device)
        if match is None:
            raise BackpropError(
                f"device must be 'cpu', 'cuda', 'cuda:N', an array-API namespace or a "
                f"(namespace, device) pair; got {device!r}")
        return _cuda(int(match.group(1) or 0))
    if isinstance(device, tuple) and len(device) == 2:
        xp = _namespace(device[0])
        return Backend(xp, _device(xp, device[1]))
    if isinstance(device, types.ModuleType):
        xp = _namespace(device)
        return Backend(xp, array_api_compat.device(xp.asarray(0)))
    raise BackpropTypeError(
        f"device must be 'cpu', 'cuda', 'cuda:N', an array-API namespace or a "
        f"(namespace, device) pair; got {type(device).__name__} {device!r}")


def _by_module_name(name: str, device) -> Backend:
    """The backend of namespace module ``name`` on ``device`` (unpickling a `Backend`)."""
    return resolve((importlib.import_module(name), device))


def _namespace(module):
    """The array-API namespace of ``module`` (``numpy`` → ``array_api_compat.numpy``)."""
    if not isinstance(module, types.ModuleType) or not hasattr(module, "asarray"):
        raise BackpropTypeError(f"device namespace must be an array-API module; got {module!r}")
    return array_api_compat.array_namespace(module.asarray(0))


def _device(xp, device):
    """``device`` as ``xp``'s arrays report it (``"cpu"`` → ``torch.device("cpu")``), so the
    model's device compares equal to the device of the arrays created on it."""
    try:
        return array_api_compat.device(xp.asarray(0, device=device))
    except Exception as exc:  # each library has its own error for an unknown device
        raise BackpropError(
            f"device {device!r} is not a device of {xp.__name__}: {type(exc).__name__}: "
            f"{exc}".splitlines()[0]) from None


def _cuda(index: int) -> Backend:
    """CuPy on GPU ``index``, or a clear error saying what is missing."""
    count = gpu_count()
    if index >= count:
        raise BackpropError(
            f"device 'cuda:{index}' needs GPU {index}, but only {count} CUDA GPU(s) are visible")
    import array_api_compat.cupy as xp
    import cupy

    return Backend(xp, cupy.cuda.Device(index))


def gpu_count() -> int:
    """The number of CUDA GPUs CuPy sees: at least 1, or a clear error saying what is
    missing (CuPy, or a GPU)."""
    try:
        import cupy
    except ImportError as exc:
        raise BackpropError(
            "device 'cuda' needs CuPy, which is not installed: "
            "pip install 'backprop[cuda12]' (or [cuda13] for CUDA 13)") from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except cupy.cuda.runtime.CUDARuntimeError as exc:
        raise BackpropError(f"device 'cuda' needs a CUDA GPU, but none is visible: {exc}") from exc
    if count < 1:
        raise BackpropError("device 'cuda' needs a CUDA GPU, but none is visible")
    return count


def to_host(x) -> np.ndarray:
    """Copy an array of any supported backend to a NumPy array (a device → host read)."""
    if array_api_compat.is_cupy_array(x):
        return x.get()
    if array_api_compat.is_torch_array(x):
        return x.detach().cpu().numpy()
    if array_api_compat.is_array_api_strict_namespace(array_api_compat.array_namespace(x)):
        import array_api_strict

        return np.asarray(x.to_device(array_api_strict.Device("CPU_DEVICE")))
    return np.asarray(x)


class Random:
    """Seeded random numbers drawn on the host (NumPy PCG64), identical on every backend."""

    def __init__(self, seed):
        self._rng = np.random.default_rng(seed)

    def uniform(self, limit: float, shape: tuple) -> np.ndarray:
        """Uniform draws on (−limit, limit), float64 on the host."""
        return self._rng.uniform(-limit, limit, size=shape)

    def normal(self, std: float, shape: tuple) -> np.ndarray:
        """Normal draws with mean 0 and standard deviation ``std``, float64 on the host."""
        return self._rng.normal(0.0, std, size=shape)

    def permutation(self, n: int) -> np.ndarray:
        """A random permutation of ``range(n)`` (int64 on the host)."""
        return self._rng.permutation(n)
