"""Saving and loading networks (and training checkpoints) as ``.npz`` files without pickle.

A file holds ``format`` (the string ``"backprop-model"``), ``meta`` (a JSON string:
format version, dtype, layer sizes and activation names, optionally the loss the
network was trained with and its task, and for checkpoints the training state) and the
arrays ``W1, b1, …, WL, bL`` (W⁽ˡ⁾ of shape (out, in) as in (6.7)); a checkpoint adds
its optimizer buffers, callback states and history under ``extra/``.

Files are written atomically (`backprop.files.atomic`): an interrupted save never leaves a
half-written file. They are read as data that may come from anyone (`backprop.files.npz`):
the JSON is bounded and checked key by key, the architecture is checked against every
array's ``.npy`` header before any array is read, only the members the architecture
names are read, and every problem is one `BackpropError` naming the file.
This module does file IO: it moves arrays to the host and back with the device module.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from .files import atomic
from . import losses as _losses
from .activations import ACTIVATIONS
from .device import DTYPES, to_host
from .errors import BackpropError, is_int
from .files.historylog import HistoryLog, check_fields
from .layers import Dense
from .network import Sequential
from .files.npz import NpzReader
from .train import History

FORMAT = "backprop-model"
VERSION = 1
META_LIMIT = 64 << 20                   # bytes of the JSON record (16 M characters)
LOSSES = ("squared_error", "softmax_cross_entropy", "sigmoid_cross_entropy")
TASKS = ("classification", "regression")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")
CURVES = ("cost", "error", "val_iteration", "val_cost", "val_error")


def save(net, path, *, loss=None, task=None, extra=None, arrays=None):
    """Write ``net`` to ``path`` (``.npz``) atomically; return the path.

    ``loss`` (a name or `Loss`) records what the outputs mean, for ``backprop predict``
    and ``evaluate``; ``task`` is ``"classification"`` or ``"regression"`` (by default
    the loss's: classification for the cross-entropies, regression for squared error).
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
            **_outputs(loss, task), "extra": extra}
    content.update(format=np.asarray(FORMAT), meta=np.asarray(json.dumps(meta)))
    for name, array in (arrays or {}).items():
        content[f"extra/{name}"] = to_host(array)
    return atomic.write(path, lambda f: np.savez(f, **content))


def _outputs(loss, task):
    """The meta's ``loss`` and ``task`` entries (none when no loss is given)."""
    if loss is None:
        if task is not None:
            raise BackpropError("task needs the loss the network was trained with (loss=...)")
        return {}
    loss = _losses.get(loss)
    if loss.name not in LOSSES:
        raise BackpropError(f"loss {loss.name!r} cannot be recorded in a file (files store no "
                            f"code); use one of {', '.join(LOSSES)}")
    task = task or ("classification" if loss.classification else "regression")
    if task not in TASKS:
        raise BackpropError(f"task must be one of {', '.join(TASKS)}; got {task!r}")
    return {"loss": loss.name, "task": task}


def load(path, device="cpu"):
    """Read a network written by `save` (or `save_checkpoint`) onto ``device``."""
    return read_model(path, device)[0]


def read_model(path, device="cpu"):
    """``(net, outputs)``: the network and ``{"loss": name, "task": …}`` as recorded by
    `save` (both None in files that do not record them)."""
    with NpzReader(path) as f:
        net, meta = _model(f, device)
    return net, {"loss": meta.get("loss"), "task": meta.get("task")}


def _model(f, device):
    """``(net, meta)`` from an open `NpzReader`: the JSON record first, then every array's
    header against the architecture, and only then the arrays."""
    if "format" not in f.names or "meta" not in f.names:
        raise BackpropError(f"{f.path} is not a backprop model file (no '{FORMAT}' marker)")
    if f.text("format", 4 * 64) != FORMAT:
        raise BackpropError(f"{f.path} is not a backprop model file (no '{FORMAT}' marker)")
    meta = _meta(f)
    dtype = meta["dtype"]
    layers = _layers(f, meta["layers"])
    shapes = [(f"{k}{l}", shape) for l, layer in enumerate(layers, start=1)
              for k, shape in (("W", (layer.n_out, layer.n_in)), ("b", (layer.n_out,)))]
    for name, shape in shapes:
        found = f.header(name) if name in f.names else None
        if found is None or found[0].newbyteorder("=") != np.dtype(dtype) or found[1] != shape:
            what = "missing" if found is None else f"{found[0]} {found[1]}"
            raise f.error(f"array {name} must be {dtype} {shape}; found {what}")
    net = Sequential(layers, device=device, dtype=dtype)
    parts = [(layer, attribute) for layer in net.layers for attribute in ("W", "b")]
    with net.backend.context():
        for (name, shape), (layer, attribute) in zip(shapes, parts):
            setattr(layer, attribute, net.backend.asarray(
                f.array(name, dtype, shape), name=name, dtype=net.dtype))
    return net, meta


def _meta(f):
    """The JSON record, parsed within bounds and checked key by key."""
    def corrupt(what):
        return BackpropError(f"{f.path} has a corrupt architecture record: {what}")

    text = f.text("meta", META_LIMIT)
    try:
        meta = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise corrupt("its JSON is nested too deeply") from None
    except ValueError as exc:
        raise corrupt(f"not JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise corrupt(f"a JSON object is expected; got {type(meta).__name__}")
    unknown = sorted(set(meta) - {"version", "dtype", "layers", "loss", "task", "extra"})
    missing = sorted({"version", "dtype", "layers"} - set(meta))
    if unknown or missing:
        raise corrupt(f"unknown keys {unknown}" if unknown else f"missing keys {missing}")
    if not is_int(meta["version"]) or meta["version"] != VERSION:
        raise BackpropError(f"{f.path} has format version {meta['version']!r}; this backprop "
                            f"reads {VERSION}")
    if meta["dtype"] not in DTYPES:
        raise corrupt(f"dtype must be one of {', '.join(DTYPES)}; got {meta['dtype']!r}")
    if meta.get("loss") not in (None, *LOSSES) or meta.get("task") not in (None, *TASKS):
        raise corrupt(f"unknown loss {meta.get('loss')!r} or task {meta.get('task')!r}")
    return meta


def _no_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def _layers(f, records):
    """Dense layers from the ``layers`` record, no more than the file's arrays can hold."""
    def corrupt(what):
        return BackpropError(f"{f.path} has a corrupt architecture record: {what}")

    if not isinstance(records, list) or not records:
        raise corrupt("layers must be a non-empty list")
    if 2 * len(records) > len(f.names):
        raise corrupt(f"{len(records)} layers declared but the file holds {len(f.names)} arrays")
    layers = []
    for l, record in enumerate(records, start=1):
        if not (isinstance(record, list) and len(record) == 3 and is_int(record[0])
                and is_int(record[1]) and isinstance(record[2], str)):
            raise corrupt(f"layer {l} must be [n_in, n_out, activation]; got {record!r}"[:200])
        if record[2] not in ACTIVATIONS:
            raise corrupt(f"layer {l} has the unknown activation {record[2]!r}"[:200])
        try:
            layers.append(Dense(record[0], record[1], record[2]))
        except BackpropError as exc:
            raise corrupt(f"layer {l}: {exc}") from None
    for l, (a, b) in enumerate(zip(layers, layers[1:]), start=1):
        if a.n_out != b.n_in:
            raise corrupt(f"layer {l} has {a.n_out} outputs but layer {l + 1} {b.n_in} inputs")
    return layers


# -- checkpoints --------------------------------------------------------------------------
def save_checkpoint(path, net, optimizer, history, epoch: int, config=None, *, callbacks=(),
                    loss=None, task=None):
    """Save ``net`` with the training state: the optimizer's buffers, the history, the
    epoch, ``config`` and the state of ``callbacks`` (`EarlyStopping`'s best epoch…).

    ``history`` is a `History` (stored whole) or a `HistoryLog` (only its counts are
    stored: its rows are in its own file, so the checkpoint's size stays constant). A
    callback's ``state_dict()`` gives JSON scalars and arrays of θ's shape (n_params,).
    """
    scalars, buffers = optimizer.state_dict()
    arrays = {f"optimizer/{name}/{i}": array
              for name, parts in buffers.items() for i, array in enumerate(parts)}
    if isinstance(history, HistoryLog):
        record = {"log": history.state()}
    else:
        record = {"arrays": {name: len(getattr(history, name)) for name in CURVES}}
        arrays.update({f"history/{name}": np.asarray(getattr(history, name),
                                                     np.int64 if name == "val_iteration"
                                                     else np.float64)
                       for name in CURVES})
    states = []
    for j, callback in enumerate(callbacks):
        values, parts = callback.state_dict()
        states.append({"scalars": values, "arrays": sorted(parts)})
        arrays.update({f"callbacks/{j}/{name}": array for name, array in parts.items()})
    extra = {"epoch": epoch, "optimizer": {**scalars, "buffers": sorted(buffers)},
             "history": record, "callbacks": states, "config": config}
    return save(net, path, loss=loss, task=task, extra=extra, arrays=arrays)


def load_checkpoint(path, device="cpu"):
    """``(net, state)`` from `save_checkpoint`. ``state`` has ``epoch``, ``optimizer``
    (``(scalars, buffers)`` for `load_state_dict`), ``history`` (a `History`),
    ``history_log`` (the `HistoryLog` to continue, or None), ``callbacks`` (one
    ``(scalars, arrays)`` per saved callback, for its ``load_state_dict``), ``config``
    and ``outputs`` (the recorded loss and task). Everything is checked before use."""
    with NpzReader(path, "checkpoint") as f:
        net, meta = _model(f, device)
        extra = meta.get("extra")
        if not isinstance(extra, dict) or "epoch" not in extra:
            raise BackpropError(f"{f.path} is a model but not a training checkpoint")
        state = _training_state(f, net, meta["dtype"], extra)
    state["outputs"] = {"loss": meta.get("loss"), "task": meta.get("task")}
    return net, state


def _training_state(f, net, dtype, extra):
    def corrupt(what):
        return BackpropError(f"{f.path} has a corrupt training state: {what}")

    unknown = sorted(set(extra) - {"epoch", "optimizer", "history", "callbacks", "config"})
    if unknown:
        raise corrupt(f"unknown keys {unknown}")
    epoch, optimizer = extra["epoch"], extra.get("optimizer")
    if not is_int(epoch) or epoch < 0:
        raise corrupt(f"epoch must be an int >= 0; got {epoch!r}"[:200])
    if not isinstance(optimizer, dict) or not is_int(optimizer.get("t")) or optimizer["t"] < 0:
        raise corrupt("the optimizer's step count t must be an int >= 0")
    config = extra.get("config")
    if config is not None and not isinstance(config, dict):
        raise corrupt(f"config must be an object; got {type(config).__name__}")
    shapes = [tuple(p.shape) for layer in net.layers for p in (layer.W, layer.b)]
    buffers = {}
    for name in _buffer_names(f, optimizer, corrupt):
        parts = []
        for i, shape in enumerate(shapes):
            key = f"extra/optimizer/{name}/{i}"
            if key not in f.names:
                raise corrupt(f"optimizer buffer {name!r} has no array {i}")
            parts.append(net.backend.asarray(f.array(key, dtype, shape), name=key,
                                             dtype=net.dtype))
        if f"extra/optimizer/{name}/{len(shapes)}" in f.names:
            raise corrupt(f"optimizer buffer {name!r} does not match the parameters")
        buffers[name] = parts
    history, log = _history(f, extra.get("history"), corrupt)
    callbacks = _callback_states(f, net, dtype, extra.get("callbacks", []), corrupt)
    return {"epoch": epoch, "optimizer": ({"t": optimizer["t"]}, buffers), "history": history,
            "history_log": log, "callbacks": callbacks, "config": config}


def _buffer_names(f, optimizer, corrupt):
    """The optimizer buffers the record names (older files: those present in the file)."""
    names = optimizer.get("buffers")
    if names is None:
        found = (re.fullmatch(r"extra/optimizer/([^/]+)/\d+", key) for key in f.names)
        names = sorted({m[1] for m in found if m})
    if not isinstance(names, list) or len(set(map(str, names))) != len(names) or not all(
            isinstance(n, str) and NAME.fullmatch(n) for n in names):
        raise corrupt(f"optimizer buffers must be distinct names; got {names!r}"[:200])
    return names


def _history(f, record, corrupt):
    """``(History, HistoryLog or None)`` from the checkpoint's history record."""
    if not isinstance(record, dict):
        raise corrupt("history must be a log, arrays or curves record")
    log = None
    if set(record) == {"log"}:
        state = record["log"]
        if not (isinstance(state, dict) and set(state) == {"file", "rows", "bytes", "crc32"}
                and isinstance(state["file"], str) and Path(state["file"]).name == state["file"]
                and state["file"] not in ("", ".", "..") and "\\" not in state["file"]
                and all(is_int(state[k]) and state[k] >= 0 for k in ("rows", "bytes", "crc32"))):
            raise corrupt("history log record must be a file name in the checkpoint's folder "
                          "and three counts")
        try:
            fields, log = HistoryLog.resume(f.path.parent / state["file"], state["rows"],
                                            state["bytes"], state["crc32"])
        except BackpropError as exc:
            raise BackpropError(f"{f.path}: {exc}") from None
    elif set(record) == {"arrays"}:
        counts = record["arrays"]
        if not (isinstance(counts, dict) and set(counts) == set(CURVES)
                and all(is_int(n) and n >= 0 for n in counts.values())):
            raise corrupt("history arrays record must give the length of each curve")
        fields = {name: f.array(f"extra/history/{name}",
                                np.int64 if name == "val_iteration" else np.float64,
                                (counts[name],)).tolist() for name in CURVES}
    else:                                   # the curves themselves (files before the log)
        fields = record
        if not (set(fields) == set(CURVES) and all(
                isinstance(v, list) and all(_is_number(x) for x in v)
                for v in fields.values())):
            raise corrupt("history must hold the lists " + ", ".join(CURVES))
        if not all(is_int(t) for t in fields["val_iteration"]):
            raise corrupt("history val_iteration must hold iteration numbers")
    check_fields(fields, f"{f.path}'s history")
    return History(**fields), log


def _is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _callback_states(f, net, dtype, records, corrupt):
    """One ``(scalars, arrays)`` per recorded callback; its arrays have θ's shape."""
    if not isinstance(records, list):
        raise corrupt("callbacks must be a list")
    states = []
    for j, record in enumerate(records):
        if not (isinstance(record, dict) and set(record) == {"scalars", "arrays"}
                and isinstance(record["scalars"], dict) and isinstance(record["arrays"], list)
                and all(isinstance(n, str) and NAME.fullmatch(n) for n in record["arrays"])):
            raise corrupt(f"callback {j} must have scalars and named arrays")
        arrays = {}
        for name in record["arrays"]:
            host = f.array(f"extra/callbacks/{j}/{name}", dtype, (net.n_params,))
            arrays[name] = net.backend.asarray(host, name=name, dtype=net.dtype)
        states.append((record["scalars"], arrays))
    return states
