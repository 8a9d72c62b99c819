"""Saving and loading networks (and training checkpoints) as ``.npz`` files without pickle.

A file holds ``format`` (the string ``"backprop-model"``), ``meta`` (a JSON string:
format version, dtype, layer sizes and activation names, and for checkpoints the
training state) and the arrays ``W1, b1, …, WL, bL`` (W⁽ˡ⁾ of shape (out, in) as in
(6.7)). Files are read with ``allow_pickle=False``, so loading executes no code, and
written to a temporary file in the target folder that replaces the target only when
complete (``os.replace``), so an interrupted save never leaves a half-written model.
This module does file IO: it moves arrays to the host and back with the device module.
"""

from __future__ import annotations

import json
import os
import uuid
import zipfile
from pathlib import Path

import numpy as np

from .activations import ACTIVATIONS
from .device import to_host
from .errors import BackpropError
from .layers import Dense
from .network import Sequential
from .train import History

FORMAT = "backprop-model"
VERSION = 1


def save(net, path, extra=None, arrays=None):
    """Write ``net`` to ``path`` (``.npz``) atomically; return the path.

    ``extra`` (JSON-serialisable) and ``arrays`` (name → array) are stored beside the
    model; `save_checkpoint` uses them for the training state. Networks with a custom
    (function, derivative) activation cannot be saved: code is never stored.
    """
    if not isinstance(net, Sequential):
        raise BackpropError(f"net must be a bp.Sequential; got {type(net).__name__}")
    layers = []
    for l, layer in enumerate(net.layers, start=1):
        if ACTIVATIONS.get(layer.activation.name) is not layer.activation:
            raise BackpropError(
                f"layer {l} uses the custom activation {layer.activation.name!r}, which cannot "
                f"be saved (files store no code); use one of {', '.join(sorted(ACTIVATIONS))}")
        layers.append([layer.n_in, layer.n_out, layer.activation.name])
    content = {}
    for l, layer in enumerate(net.layers, start=1):
        content[f"W{l}"] = to_host(layer.W)
        content[f"b{l}"] = to_host(layer.b)
    meta = {"version": VERSION, "dtype": str(content["W1"].dtype), "layers": layers,
            "extra": extra}
    content.update(format=np.asarray(FORMAT), meta=np.asarray(json.dumps(meta)))
    for name, array in (arrays or {}).items():
        content[f"extra/{name}"] = to_host(array)
    path = Path(path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(tmp, "xb") as f:
            np.savez(f, **content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def load(path, device="cpu"):
    """Read a network written by `save` (or `save_checkpoint`) onto ``device``."""
    return _read(path, device)[0]


def _read(path, device):
    """``(net, meta, extra_arrays)`` from ``path``, every part checked before use."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            content = {name: f[name] for name in f.files}
    except FileNotFoundError:
        raise BackpropError(f"model file {path} does not exist") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise BackpropError(
            f"{path} is not a readable backprop model file (truncated or foreign): "
            f"{type(exc).__name__}: {exc}") from None
    if "format" not in content or str(content["format"]) != FORMAT or "meta" not in content:
        raise BackpropError(f"{path} is not a backprop model file (no '{FORMAT}' marker)")
    try:
        meta = json.loads(str(content["meta"]))
        version, dtype, layers = meta["version"], meta["dtype"], meta["layers"]
        layers = [Dense(int(n_in), int(n_out), str(name)) for n_in, n_out, name in layers]
    except (ValueError, KeyError, TypeError) as exc:
        raise BackpropError(f"{path} has a corrupt architecture record: {exc}") from None
    if version != VERSION:
        raise BackpropError(f"{path} has format version {version}; this backprop reads {VERSION}")
    net = Sequential(layers, device=device, dtype=dtype)
    with net.backend.context():
        for l, layer in enumerate(net.layers, start=1):
            for name, shape in ((f"W{l}", (layer.n_out, layer.n_in)), (f"b{l}", (layer.n_out,))):
                array = content.get(name)
                if array is None or array.shape != shape or array.dtype != np.dtype(dtype):
                    found = "missing" if array is None else f"{array.dtype} {array.shape}"
                    raise BackpropError(
                        f"{path}: array {name} must be {dtype} {shape}; found {found}")
                setattr(layer, name[0], net.backend.asarray(array, name=name, dtype=net.dtype))
    extra = {name.removeprefix("extra/"): array for name, array in content.items()
             if name.startswith("extra/")}
    return net, meta, extra


def save_checkpoint(path, net, optimizer, history, epoch: int, config=None):
    """Save ``net`` with the training state: optimizer buffers, history, epoch, ``config``."""
    scalars, buffers = optimizer.state_dict()
    arrays = {f"optimizer/{name}/{i}": array
              for name, parts in buffers.items() for i, array in enumerate(parts)}
    extra = {"epoch": epoch, "optimizer": scalars, "history": history.as_dict(),
             "config": config}
    return save(net, path, extra=extra, arrays=arrays)


def load_checkpoint(path, device="cpu"):
    """``(net, state)`` from `save_checkpoint`; ``state`` has ``epoch``, ``optimizer``
    (``(scalars, buffers)`` for `load_state_dict`), ``history`` (a `History`) and ``config``."""
    net, meta, arrays = _read(path, device)
    extra = meta.get("extra")
    if not isinstance(extra, dict) or "epoch" not in extra:
        raise BackpropError(f"{path} is a model but not a training checkpoint")
    try:
        scalars = extra["optimizer"]
        epoch, history = int(extra["epoch"]), History(**extra["history"])
        int(scalars["t"])
        buffers = _buffers(net, arrays)
    except (KeyError, TypeError, ValueError) as exc:
        raise BackpropError(f"{path} has a corrupt training state: {exc!r}") from None
    return net, {"epoch": epoch, "optimizer": (scalars, buffers), "history": history,
                 "config": extra.get("config")}


def _buffers(net, arrays):
    """Optimizer buffers ``optimizer/NAME/i`` → {NAME: [one array per W1, b1, …]}, checked
    against the shapes of the parameters and moved to the model's device."""
    shapes = [tuple(p.shape) for layer in net.layers for p in (layer.W, layer.b)]
    found = {}
    for key, array in arrays.items():
        _, name, i = key.split("/")
        found.setdefault(name, {})[int(i)] = array
    buffers = {}
    for name, parts in found.items():
        if sorted(parts) != list(range(len(shapes))) or \
                [parts[i].shape for i in range(len(shapes))] != shapes:
            raise ValueError(f"optimizer buffer {name!r} does not match the parameters")
        buffers[name] = [net.backend.asarray(parts[i], name=f"{name}[{i}]", dtype=net.dtype)
                         for i in range(len(shapes))]
    return buffers
